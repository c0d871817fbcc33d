#!/usr/bin/env python3
"""Writes a copy of a float16 kvbench model whose linear layers multiply in float16.

    python3 scripts/export_fp16_matmul.py --model DIR --out DIR2

See ``families/fp16_matmul.py`` for the rewrite. Everything else in DIR is copied to DIR2; external
weight files are hard-linked where the file system allows (they are not changed). The loop and
score graphs are not copied: re-run ``scripts/export_decode_loop.py --model DIR2`` for them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families.decode_loop import FILE_NAMES  # noqa: E402
from families.fp16_matmul import half_matmuls  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a kvbench model directory with a float16 model.onnx")
    parser.add_argument("--out", required=True, help="the new model directory")
    args = parser.parse_args()
    src, out = Path(args.model), Path(args.out)
    if not (src / "model.onnx").exists():
        sys.exit(f"export_fp16_matmul: {src / 'model.onnx'} does not exist: pass --model DIR of a kvbench export")
    if out.resolve() == src.resolve():
        sys.exit("export_fp16_matmul: --out must differ from --model (the original is kept)")
    model = onnx.load(str(src / "model.onnx"), load_external_data=False)
    changed = half_matmuls(model)
    if changed == 0:
        sys.exit(f"export_fp16_matmul: no MatMul of a float16 weight in {src}: is it a float16 export?")
    out.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        # The loop and score graphs wrap the old graph: write them again for the new one.
        if item.name in ("model.onnx", "kvbench.json", *FILE_NAMES.values()) or item.is_dir():
            continue
        target = out / item.name
        if target.exists():
            target.unlink()
        try:
            os.link(item, target)
        except OSError:
            shutil.copy2(item, target)
    sidecar_path = src / "kvbench.json"
    sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
    sidecar["name"] = f"{sidecar.get('name', src.resolve().name)}-fp16mm"
    sidecar["matmul_dtype"] = "float16"
    (out / "kvbench.json").write_text(json.dumps(sidecar, indent=1) + "\n")
    onnx.save(model, str(out / "model.onnx"))
    onnx.checker.check_model(str(out / "model.onnx"))
    print(f"wrote {out / 'model.onnx'}: {changed} MatMuls now multiply in float16")


if __name__ == "__main__":
    main()
