#!/usr/bin/env python3
"""Self-check of the PyTorch anchor (scripts/bench_torch.py) on the CPU: exits non-zero on a failure.

    /usr/bin/python3 scripts/check_bench_torch.py

Runs the anchor's whole control flow with its pure-torch stand-in (--impl toy): prefill, decode at
two batch sizes after the untimed step, the multiple-choice mix and generation of token shapes
(--shapes), and checks the rows it writes: one per piece of work, token counts as bench.ts counts
them, the cache grown by the decode steps; and that scoring runs one sequence for requests that differ
only in their last token, as lm-eval's logits cache does. Every ratio in docs/BENCHMARKS.md divides by
these rows.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_torch  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shapes = Path(tmp) / "shapes.json"
        shapes.write_text(json.dumps({"samples": [[40, 5], [60, 1], [33, 2]]}))
        out = Path(tmp) / "rows.json"
        bench_torch.main(["--impl", "toy", "--device", "cpu", "--contexts", "64", "--decode", "3",
                          "--batches", "1,2", "--mc", "2", "--prefill-chunk", "32",
                          "--shapes", str(shapes), "--json", str(out)])
        rows = json.loads(out.read_text())["rows"]
    works = [(r["work"], r.get("batch")) for r in rows]
    assert works == [("prefill", None), ("decode", 2), ("decode", 1), ("generate", None), ("score-mc-first", None),
                     ("score-mc", None)], works
    prefill, decode2, decode1, generate, first, timed = rows
    assert prefill["tokens"] == 64, prefill
    assert decode1["tokens"] == 3 and decode2["tokens"] == 6, (decode1, decode2)
    # The cache holds the prompt, the untimed step and the timed steps, a row per batch row.
    per_token = prefill["kvBytesPerToken"]
    assert decode1["stateBytes"] == per_token * (64 + 1 + 3), decode1
    assert decode2["stateBytes"] == 2 * per_token * (64 + 1 + 3), decode2
    assert generate["tokens"] == 40 + 5 + 60 + 1 + 33 + 2 and generate["samples"] == 3, generate
    assert all(r["seconds"] > 0 for r in rows), rows
    # Two mixes of the same size drawn from different seeds.
    assert first["tokens"] != timed["tokens"], (first, timed)
    check_logits_cache()
    print("bench_torch: toy anchor rows ok")


def check_logits_cache() -> None:
    """Requests that share context and continuation but its last token run as one sequence (lm-eval's
    logits cache), each scored as if alone."""
    args = bench_torch.parse_args(["--impl", "toy", "--device", "cpu", "--dtype", "float32"])
    target = bench_torch.build_toy(args, torch.device("cpu"), torch.float32)
    context, other = [3, 4, 5, 6, 7], [8, 9, 10]
    pairs = [(context, [11]), (context, [12]), (context, [13, 14]), (context, [13, 15]), (other, [16])]
    with torch.inference_mode():
        results, fed, _ = bench_torch.score_mc(target, pairs, torch.device("cpu"))
        alone = [bench_torch.score_mc(target, [pair], torch.device("cpu"))[0][0] for pair in pairs]
    # Three sequences: the context (two one-token continuations), context + [13] (two), the other.
    assert fed == len(context) + (len(context) + 1) + len(other), fed
    for (logprob, greedy), (want, want_greedy) in zip(results, alone):
        assert abs(logprob - want) < 1e-4 and greedy == want_greedy, (results, alone)


if __name__ == "__main__":
    main()
