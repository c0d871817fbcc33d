#!/usr/bin/env python3
"""Writes a greedy-decode Loop graph beside a kvbench model: DIR/model.onnx -> DIR/decode_loop.onnx.

    /usr/bin/python3 scripts/export_decode_loop.py --model DIR [--out DIR/decode_loop.onnx] [--prefill]

With ``--score`` it writes DIR/score.onnx too: contexts and their continuations scored in one call,
only per-token log-probabilities back (see ``families/score_graph.py``). With ``--prefill`` it writes
DIR/prefill_loop.onnx too: the prompt fed in chunks inside one Loop
(``input_ids`` [B, T], ``attention_mask`` [B, past + T], ``chunk``; returns the last position's
``logits`` and the final states), so the state stays on the device between chunks as well.

The loop graph takes one token per row (``input_ids`` [B, 1], ``attention_mask`` [B, past + 1],
``position_ids`` [B, 1] when the decoder has them), the decoder's ``past*`` states and
``max_new_tokens`` (int64 scalar), and returns ``tokens`` [max_new_tokens, B] (greedy) and the final
states under the decoder's ``present*`` names; the state stays inside onnxruntime between tokens.
See ``families/decode_loop.py`` for the wiring. The decoder's weights are not duplicated: inline
weights stay inline, external data files are referenced where they are (so ``--out`` must then be
in the model's directory). Needs python3-onnx only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families.decode_loop import DecodeLoopError, write_decode_loop  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="model directory holding model.onnx")
    parser.add_argument("--out", type=Path, help="output file (default: MODEL/decode_loop.onnx)")
    parser.add_argument("--prefill", action="store_true", help="also write MODEL/prefill_loop.onnx")
    parser.add_argument("--score", action="store_true", help="also write MODEL/score.onnx (prefix-reuse scoring)")
    args = parser.parse_args()
    src = args.model / "model.onnx"
    if not src.is_file():
        raise SystemExit(f"error: {src} does not exist: point --model at a kvbench model directory")
    try:
        print(write_decode_loop(args.model, args.out))
        if args.prefill:
            print(write_decode_loop(args.model, kind="prefill"))
        if args.score:
            print(write_decode_loop(args.model, kind="score"))
    except DecodeLoopError as error:
        raise SystemExit(f"error: {src}: {error}") from None


if __name__ == "__main__":
    main()
