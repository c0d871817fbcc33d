"""Reads (and, for tests, writes) Hugging Face safetensors files without the ``safetensors`` package.

The format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the end of the header;
an optional ``"__metadata__"`` entry holds strings), then the tensors' raw little-endian bytes.

Everything is returned as float32 torch tensors, because kvbench's modules and conversions run in
float32 (BF16 widens exactly: its 16 bits are the top half of a float32). Tensors are read one at a
time on request, so a checkpoint is never held twice in memory while it is copied into a model.
A sharded checkpoint (``model.safetensors.index.json`` with a ``"weight_map"`` of name → file) reads
the same way as a single file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np
import torch

# safetensors dtype -> (numpy dtype of the stored bytes, bytes per element)
_STORED = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2), "F64": ("<f8", 8), "F8_E4M3": ("u1", 1)}

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"


def bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """uint16 BF16 bit patterns -> float32 (exact: the bits become the float32's top half)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def float32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> uint16 BF16 bit patterns, rounding to nearest even (NaN stays NaN)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16
    nan = np.isnan(x.astype(np.float32))
    return np.where(nan, np.uint32(0x7FC0), rounded).astype(np.uint16)


def _e4m3_table() -> np.ndarray:
    """float32 value of each of the 256 float8 E4M3FN bit patterns (OCP FP8: bias 7, no
    infinities, NaN at S.1111.111; the largest finite value is 448)."""
    b = np.arange(256, dtype=np.uint32)
    sign = np.where(b >> 7, -1.0, 1.0)
    exponent, mantissa = (b >> 3) & 0xF, (b & 7).astype(np.float64)
    normal = (1 + mantissa / 8) * np.exp2(exponent.astype(np.float64) - 7)
    subnormal = (mantissa / 8) * 2.0 ** -6
    values = sign * np.where(exponent == 0, subnormal, normal)
    values[(exponent == 15) & ((b & 7) == 7)] = np.nan
    return values.astype(np.float32)


E4M3 = _e4m3_table()


def e4m3_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """uint8 float8 E4M3FN bit patterns -> float32 (exact)."""
    return E4M3[bits.astype(np.intp)]


def float32_to_e4m3_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> float8 E4M3FN bit patterns: nearest value, ties to the even pattern, saturating at
    ±448 as FP8 quantisers clamp (for writing test checkpoints)."""
    x = np.clip(np.asarray(x, dtype=np.float32), -448.0, 448.0)
    positive = E4M3[:127]  # 0 … 448, increasing
    mag = np.abs(x)
    hi = np.clip(np.searchsorted(positive, mag), 1, 126)
    lo = hi - 1
    d_lo, d_hi = mag - positive[lo], positive[hi] - mag
    pick = np.where((d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0)), hi, lo)
    pick = np.where(mag <= positive[0], 0, pick)
    return (pick | np.where(np.signbit(x) & (pick > 0), 128, 0)).astype(np.uint8)


class SafetensorsFile:
    """One ``.safetensors`` file: its header parsed, tensors read on demand."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise ValueError(f"{self.path}: too short to be a safetensors file")
            (n,) = struct.unpack("<Q", raw)
            size = self.path.stat().st_size
            if n > size - 8:
                raise ValueError(f"{self.path}: header length {n} exceeds the file ({size} bytes)")
            header = json.loads(f.read(n).decode("utf-8"))
        self.data_start = 8 + n
        self.metadata: Dict[str, str] = header.pop("__metadata__", None) or {}
        self.entries: Dict[str, dict] = header
        for name, e in header.items():
            dtype, shape, (begin, end) = e["dtype"], e["shape"], e["data_offsets"]
            if dtype not in _STORED:
                raise ValueError(f"{self.path}: tensor {name!r} has dtype {dtype}; supported: "
                                 f"{', '.join(_STORED)}")
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            if end - begin != count * _STORED[dtype][1] or end > size - self.data_start or begin < 0:
                raise ValueError(f"{self.path}: tensor {name!r} has data_offsets {begin}..{end}, which do "
                                 f"not fit its {dtype} shape {shape} inside the file")

    def names(self) -> List[str]:
        return sorted(self.entries)

    def shape(self, name: str) -> List[int]:
        return list(self.entries[name]["shape"])

    def dtype(self, name: str) -> str:
        return self.entries[name]["dtype"]

    def get(self, name: str) -> torch.Tensor:
        """The tensor ``name`` as float32."""
        e = self.entries[name]
        stored, width = _STORED[e["dtype"]]
        begin, end = e["data_offsets"]
        with open(self.path, "rb") as f:
            f.seek(self.data_start + begin)
            raw = f.read(end - begin)
        arr = np.frombuffer(raw, dtype=stored)
        if e["dtype"] == "BF16":
            arr = bf16_bits_to_float32(arr)
        elif e["dtype"] == "F8_E4M3":
            arr = e4m3_bits_to_float32(arr)
        arr = arr.astype(np.float32, copy=e["dtype"] == "F32")  # a copy: frombuffer is read-only
        return torch.from_numpy(arr.reshape(e["shape"]))


class Checkpoint:
    """All tensors of a checkpoint directory: one ``model.safetensors`` or the shards an index names."""

    def __init__(self, directory: Path):
        directory = Path(directory)
        self.files: Dict[str, SafetensorsFile] = {}
        self.where: Dict[str, str] = {}
        if (directory / INDEX).exists():
            weight_map: Dict[str, str] = json.loads((directory / INDEX).read_text())["weight_map"]
            for name, shard in sorted(weight_map.items()):
                if shard not in self.files:
                    self.files[shard] = SafetensorsFile(directory / shard)
                if name not in self.files[shard].entries:
                    raise ValueError(f"{directory / INDEX} puts {name!r} in {shard}, which lacks it")
                self.where[name] = shard
        elif (directory / SINGLE).exists():
            self.files[SINGLE] = SafetensorsFile(directory / SINGLE)
            self.where = {name: SINGLE for name in self.files[SINGLE].entries}
        else:
            raise FileNotFoundError(f"{directory} has neither {SINGLE} nor {INDEX}")

    def names(self) -> List[str]:
        return sorted(self.where)

    def shape(self, name: str) -> List[int]:
        return self.files[self.where[name]].shape(name)

    def dtypes(self) -> List[str]:
        return sorted({f.dtype(n) for f in self.files.values() for n in f.entries})

    def get(self, name: str) -> torch.Tensor:
        return self.files[self.where[name]].get(name)


def save_file(tensors: Dict[str, torch.Tensor], path: Path, dtype: str = "F32",
              metadata: Optional[Dict[str, str]] = None, dtypes: Optional[Dict[str, str]] = None) -> None:
    """Writes ``tensors`` as one safetensors file, every tensor stored as ``dtype`` (F32/F16/BF16)
    unless ``dtypes`` names another for it (F8_E4M3 too)."""
    header: Dict[str, dict] = {}
    blobs: List[bytes] = []
    offset = 0
    for name in sorted(tensors):
        x = tensors[name].detach().to(torch.float32).contiguous().numpy()
        kind = (dtypes or {}).get(name, dtype)
        if kind == "F8_E4M3":
            blob = float32_to_e4m3_bits(x).tobytes()
        elif kind == "BF16":
            blob = float32_to_bf16_bits(x).astype("<u2").tobytes()
        elif kind in ("F32", "F16", "F64"):
            blob = x.astype(_STORED[kind][0]).tobytes()
        else:
            raise ValueError(f"cannot write dtype {kind}")
        header[name] = {"dtype": kind, "shape": list(x.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the reference writer pads the header to 8 bytes; readers accept either
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def save_sharded(tensors: Dict[str, torch.Tensor], directory: Path, shards: Iterable[Iterable[str]],
                 dtype: str = "F32") -> None:
    """Writes ``tensors`` split into the given groups of names, plus the index that maps them."""
    groups = [list(g) for g in shards]
    weight_map: Dict[str, str] = {}
    total = 0
    for i, group in enumerate(groups):
        file = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        save_file({n: tensors[n] for n in group}, Path(directory) / file, dtype)
        weight_map.update({n: file for n in group})
        total += sum(tensors[n].numel() * _STORED[dtype][1] for n in group)
    missing = set(tensors) - set(weight_map)
    if missing:
        raise ValueError(f"tensors in no shard: {sorted(missing)}")
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (Path(directory) / INDEX).write_text(json.dumps(index, indent=2) + "\n")
