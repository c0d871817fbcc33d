#!/usr/bin/env python3
"""Summarises onnxruntime profiles (KVBENCH_ORT_PROFILE=DIR): per file, the runs, and the node
time by operator and provider, largest first.

    python3 scripts/gpu/profile_summary.py DIR/*.json

With the CUDA provider a node's time is what the host spent on it (launching its kernels, or
waiting where it copies to the host), not the GPU's time, so compare the nodes' sum with the runs'
wall time: when they are close, the host sets the pace.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def summarise(path: str) -> str:
    with open(path) as f:
        events = json.load(f)
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    nodes = [e for e in events if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    by_op = defaultdict(lambda: [0, 0])
    by_provider = defaultdict(lambda: [0, 0])
    for e in nodes:
        args = e.get("args", {})
        key = args.get("op_name", "?")
        by_op[key][0] += e.get("dur", 0)
        by_op[key][1] += 1
        prov = args.get("provider", "?")
        by_provider[prov][0] += e.get("dur", 0)
        by_provider[prov][1] += 1
    wall = sum(e.get("dur", 0) for e in runs)
    node_time = sum(v[0] for v in by_op.values())
    lines = [f"== {path}", f"runs {len(runs)}, wall {wall / 1000:.1f} ms; nodes {len(nodes)}, "
             f"node time {node_time / 1000:.1f} ms"]
    for prov, (dur, n) in sorted(by_provider.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"  provider {prov}: {n} nodes, {dur / 1000:.1f} ms")
    lines.append("  op                          nodes   ms     µs/node")
    for op, (dur, n) in sorted(by_op.items(), key=lambda kv: -kv[1][0])[:25]:
        lines.append(f"  {op:<26} {n:>7} {dur / 1000:>8.1f} {dur / max(n, 1):>8.1f}")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: profile_summary.py PROFILE.json [...]")
    for path in sys.argv[1:]:
        print(summarise(path))


if __name__ == "__main__":
    main()
