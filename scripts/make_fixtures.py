#!/usr/bin/env python3
"""Regenerates the committed test fixtures, bit for bit, from their seeds.

    /usr/bin/python3 scripts/make_fixtures.py [--family llama,...] [--out tests/fixtures]

Needs Debian's python3-torch and python3-onnx (apt-get install python3-torch python3-onnx).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families import broken, llama  # noqa: E402
from families.mqar import write_vectors  # noqa: E402
from families import dma  # noqa: E402
from families.common import init_weights  # noqa: E402
from families.export import write_model_dir  # noqa: E402
from families.reference import write_cases  # noqa: E402

SEED = 20261123


def make_llama(out: Path) -> None:
    cfg = llama.LlamaConfig()
    model = llama.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    write_model_dir(
        out, model, "llama", "tiny-llama", vars(cfg).copy(), llama.layer_layout(cfg),
        "2 * L * n_kv * d_h * s", SEED,
    )
    write_cases(model, out / "reference", cfg.vocab_size, SEED)


def make_dma(out: Path) -> None:
    cfg = dma.DMAConfig()
    model = dma.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    write_model_dir(out, model, "dma", "tiny-dma", vars(cfg).copy(), dma.layer_layout(cfg), dma.FORMULA, SEED)
    write_cases(model, out / "reference", cfg.vocab_size, SEED)


FAMILIES = {"llama": make_llama}
FAMILIES["dma"] = make_dma


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default=",".join(FAMILIES), help="comma-separated families")
    parser.add_argument("--out", default="tests/fixtures", help="output directory")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    broken.write(Path("tests/data/broken"))
    write_vectors(Path("tests/data/mqar_vectors.json"))
    for family in args.family.split(","):
        if family not in FAMILIES:
            parser.error(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
        FAMILIES[family](Path(args.out) / family)
        print(f"wrote {Path(args.out) / family}")


if __name__ == "__main__":
    main()
