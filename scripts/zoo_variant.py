"""Writes a TPLA variant of an MLA model directory whose weights live only in its ONNX graph (the MQAR
zoo): the weights are read back into PyTorch (``families/onnx_weights.py``), checked against the graph's
logits, cut into TPLA slices (``families/tpla.py``) and exported again.

Usage: python3 scripts/zoo_variant.py --model models/transmla --tpla-shards 2 [--tpla-transform pca]
       --out DIR [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from families import onnx_weights, tpla  # noqa: E402
from families.export import DTYPES, write_model_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="an MLA model directory (transmla, xecomla)")
    parser.add_argument("--tpla-shards", required=True, type=int, help="slices of every MLA layer's latent")
    parser.add_argument("--tpla-transform", default="pca", choices=tpla.TRANSFORMS)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0, help="calibration ids and Hadamard signs")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    config = json.loads((args.model / "config.json").read_text())
    sidecar = json.loads((args.model / "kvbench.json").read_text())
    if not config.get("mla"):
        parser.error(f"{args.model} is not an MLA family model (its config.json has no \"mla\" layers)")
    model = onnx_weights.build(config).eval()
    onnx_weights.load(model, args.model / "model.onnx")
    # The graph hands its logits out in its dtype: float16 rounds them to about 1e-2 at this size.
    limit = 2e-2 if sidecar.get("dtype") == "float16" else 1e-4
    gap = onnx_weights.max_logit_gap(model, args.model / "model.onnx", config["vocab_size"], args.seed)
    if gap > limit:
        raise SystemExit(f"error: the weights read from {args.model} give logits {gap:.3g} away from its graph")
    print(f"read {args.model}: logits within {gap:.3g} of its graph")
    calibration = torch.randint(3, config["vocab_size"], (8, 64), generator=torch.Generator().manual_seed(args.seed))
    entries = tpla.apply_tpla(model, args.tpla_shards, args.tpla_transform, calibration, args.seed + 1)
    name = f"{sidecar.get('name', args.model.name)}-tpla{args.tpla_shards}-{args.tpla_transform}"
    dtype = sidecar.get("dtype", "float32")
    config = dict(config, tpla=dict(shards=args.tpla_shards, transform=args.tpla_transform,
                                    calibration="8 x 64 random ids", seed=args.seed, source=str(args.model)))
    write_model_dir(args.out, model, sidecar["family"], name, config, sidecar["layers"],
                    sidecar["cache"]["bytes_per_token_formula"], config.get("seed", 0), dtype=dtype,
                    teacher=sidecar.get("teacher"))
    tpla.record(args.out, model, entries, DTYPES[dtype][1])
    written = json.loads((args.out / "kvbench.json").read_text())["cache"]
    print(f"wrote {args.out} ({name}): {written['bytes_per_token']} B/token in all, "
          f"{written['per_device_bytes_per_token']} on each of {args.tpla_shards} devices")


if __name__ == "__main__":
    main()
