"""Writes tests/data/xkv/<fixture>: numpy's xKV of a fixture's cache after a left-padded prefill, the
reference evals/model/xkv.ts is tested against.

The fixture's graph runs in onnxruntime on two prompts of different lengths (left-padded). For the
GQA fixture (llama) each group of layers' keys (RoPE undone) and values are laid out per row as
[tokens, layers·heads·dim], replaced by numpy's truncated SVD (``np.linalg.svd``, float64), and RoPE
is re-applied to the keys; for the MLA fixture (transmla) only the latents (the ``key`` states) are,
as xKV's MLA mode does, and the RoPE parts are left alone.
Usage: python3 scripts/make_xkv_reference.py [--out tests/data/xkv]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

FIXTURES = Path("tests/fixtures")
PROMPTS = [[5, 9, 14, 3, 22, 7, 8, 40, 41, 42, 43, 44], [30, 31, 32, 33, 34, 35, 36, 37, 38]]
OPTIONS = {"group": 2, "rank_k": 5, "rank_v": 7}
CASES = {"llama": "kv", "transmla": "latent"}


def prefill(model: Path):
    """Present states by name after feeding the left-padded prompts, and the mask."""
    session = ort.InferenceSession(str(model / "model.onnx"), providers=["CPUExecutionProvider"])
    width = max(len(p) for p in PROMPTS)
    ids = np.zeros((len(PROMPTS), width), np.int64)
    mask = np.zeros((len(PROMPTS), width), np.int64)
    positions = np.zeros((len(PROMPTS), width), np.int64)
    for r, p in enumerate(PROMPTS):
        ids[r, width - len(p):] = p
        mask[r, width - len(p):] = 1
        positions[r, width - len(p):] = np.arange(len(p))
    feeds = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
    names = [i.name for i in session.get_inputs()]
    if "num_logits_to_keep" in names:
        feeds["num_logits_to_keep"] = np.array(1, np.int64)
    for i in session.get_inputs():
        if i.name.startswith("past"):
            dims = [len(PROMPTS) if d == i.shape[0] else 0 if isinstance(d, str) else d for d in i.shape]
            dims[0] = len(PROMPTS)
            feeds[i.name] = np.zeros(dims, np.float32)
    outs = session.run(None, feeds)
    states = {o.name.replace("present", "past_key_values"): v for o, v in zip(session.get_outputs(), outs)
              if o.name.startswith("present")}
    return states, mask


def rope(x: np.ndarray, positions: np.ndarray, inv_freq: np.ndarray, sign: int) -> np.ndarray:
    """Rotate-half RoPE over the last axis of x [T, ..., D] at positions [T] (sign -1: inverse)."""
    angle = positions[:, None] * inv_freq[None, :]  # [T, D/2]
    shape = (len(positions),) + (1,) * (x.ndim - 2) + (angle.shape[1],)
    c, s = np.cos(angle).reshape(shape), sign * np.sin(angle).reshape(shape)
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * c - b * s, b * c + a * s], axis=-1)


def truncate(x: np.ndarray, rank: int) -> np.ndarray:
    if rank >= min(x.shape):
        return x
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    return (u[:, :rank] * s[:rank]) @ vt[:rank]


def xkv(states: dict, mask: np.ndarray, config: dict, mode: str) -> dict:
    layers = config["num_hidden_layers"]
    out = {k: v.astype(np.float64).copy() for k, v in states.items()}
    kinds = (("key", OPTIONS["rank_k"]), ("value", OPTIONS["rank_v"])) if mode == "kv" else (("key", OPTIONS["rank_k"]),)
    if mode == "kv":
        dim = config["head_dim"]
        inv_freq = 1.0 / config["rope_theta"] ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    for first in range(0, layers, OPTIONS["group"]):
        group = range(first, min(first + OPTIONS["group"], layers))
        for kind, rank in kinds:
            rotated = mode == "kv" and kind == "key"
            for r in range(mask.shape[0]):
                slots = np.nonzero(mask[r])[0]
                positions = np.arange(len(slots), dtype=np.float64)
                # [T, layers, heads, dim] -> [T, layers·heads·dim]
                blocks = np.stack([out[f"past_key_values.{l}.{kind}"][r][:, slots, :].transpose(1, 0, 2)
                                   for l in group], axis=1)
                if rotated:
                    blocks = rope(blocks, positions, inv_freq, -1)
                t = blocks.shape[0]
                rebuilt = truncate(blocks.reshape(t, -1), rank).reshape(blocks.shape)
                if rotated:
                    rebuilt = rope(rebuilt, positions, inv_freq, 1)
                for i, l in enumerate(group):
                    out[f"past_key_values.{l}.{kind}"][r][:, slots, :] = rebuilt[:, i].transpose(1, 0, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data/xkv")
    args = parser.parse_args()
    spec = "xkv:" + ",".join(f"{k}={v}" for k, v in OPTIONS.items())
    for fixture, mode in CASES.items():
        out = Path(args.out) / fixture
        out.mkdir(parents=True, exist_ok=True)
        config = json.loads((FIXTURES / fixture / "config.json").read_text())
        states, mask = prefill(FIXTURES / fixture)
        rebuilt = xkv(states, mask, config, mode)
        names = sorted(states)
        for name in names:
            states[name].astype(np.float32).tofile(out / f"{name}.before.f32")
            rebuilt[name].astype(np.float32).tofile(out / f"{name}.after.f32")
        (out / "case.json").write_text(json.dumps({
            "fixture": fixture, "prompts": PROMPTS, "spec": spec,
            "states": {n: list(states[n].shape) for n in names},
        }, indent=1) + "\n")
        print(f"wrote {out} ({spec}, {mode}, {len(names)} states)")


if __name__ == "__main__":
    main()
