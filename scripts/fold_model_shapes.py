#!/usr/bin/env python3
"""Folds the shape arithmetic of an existing model's graph (see ``families/fold_shapes.py``).

    python3 scripts/fold_model_shapes.py --model DIR [--out DIR2]

Writes DIR2/model.onnx (default: DIR/model.onnx, in place) with the same arithmetic on the data
and fewer host-side nodes; other files of DIR are copied into DIR2. Graphs written by
kvbench's exporters are folded already; this is for older exports and other exporters' graphs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families.fold_shapes import fold_shapes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="a model directory holding model.onnx")
    parser.add_argument("--out", type=Path, help="write the folded model here (default: in place)")
    args = parser.parse_args()
    src = args.model / "model.onnx"
    if not src.is_file():
        sys.exit(f"fold_model_shapes: {src} does not exist: pass --model DIR of a model directory")
    out = args.out or args.model
    model = onnx.load(str(src), load_external_data=False)
    counts = fold_shapes(model)
    if out.resolve() != args.model.resolve():
        out.mkdir(parents=True, exist_ok=True)
        for item in args.model.iterdir():
            if item.name == "model.onnx" or item.is_dir():
                continue
            shutil.copy2(item, out / item.name)
    onnx.save(model, str(out / "model.onnx"))
    onnx.checker.check_model(str(out / "model.onnx"))
    print(f"wrote {out / 'model.onnx'}: {counts['nodes_before']} nodes -> {counts['nodes_after']} "
          f"({counts['folded']} values folded, {counts['reshapes']} reshapes, {counts['expands']} expands)")


if __name__ == "__main__":
    main()
