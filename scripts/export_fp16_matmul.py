#!/usr/bin/env python3
"""Writes a copy of a float16 kvbench model whose linear layers multiply in float16.

    python3 scripts/export_fp16_matmul.py --model DIR (--out DIR2 | --in-place)

See ``families/fp16_matmul.py`` for the rewrite. Everything else in DIR is copied to DIR2 (external
weight files too: they are not changed); ``--in-place`` rewrites DIR's graph instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families.fp16_matmul import half_matmuls  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a kvbench model directory with a float16 model.onnx")
    parser.add_argument("--out", help="the new model directory")
    parser.add_argument("--in-place", action="store_true",
                        help="rewrite DIR itself (large models: no copy of the weights; the original graph is lost)")
    args = parser.parse_args()
    if bool(args.out) == args.in_place:
        sys.exit("export_fp16_matmul: pass either --out DIR2 or --in-place")
    src = Path(args.model)
    out = src if args.in_place else Path(args.out)
    if not (src / "model.onnx").exists():
        sys.exit(f"export_fp16_matmul: {src / 'model.onnx'} does not exist: pass --model DIR of a kvbench export")
    if not args.in_place and out.resolve() == src.resolve():
        sys.exit("export_fp16_matmul: --out must differ from --model (the original is kept); or use --in-place")
    sidecar_path = src / "kvbench.json"
    sidecar = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
    if sidecar.get("matmul_dtype") == "float16":
        sys.exit(f"export_fp16_matmul: {src} multiplies in float16 already")
    model = onnx.load(str(src / "model.onnx"), load_external_data=False)
    changed = half_matmuls(model)
    if changed == 0:
        sys.exit(f"export_fp16_matmul: no MatMul of a float16 weight in {src}: is it a float16 export?")
    out.mkdir(parents=True, exist_ok=True)
    if not args.in_place:
        for item in src.iterdir():
            if item.name in {"model.onnx", "kvbench.json"} or item.is_dir():
                continue
            # A copy, not a hard link: the first H200 lease's export chain, which linked, failed
            # onnx 1.23's external-data check (the exact cause was not pinned down).
            shutil.copy2(item, out / item.name)
    sidecar["name"] = f"{sidecar.get('name', src.resolve().name)}-fp16mm"
    sidecar["matmul_dtype"] = "float16"
    (out / "kvbench.json").write_text(json.dumps(sidecar, indent=1) + "\n")
    onnx.save(model, str(out / "model.onnx"))
    onnx.checker.check_model(str(out / "model.onnx"))
    print(f"wrote {out / 'model.onnx'}: {changed} MatMuls now multiply in float16")


if __name__ == "__main__":
    main()
