"""Widens DMA's gate to 16 lanes in an exported graph, so that ONNX Runtime's CPU kernels give a row
the same bits whatever batch it is in.

The gate ``exp(A * softplus(V_flat @ W_dt))`` is a ``[B, T, n_kv]`` tensor. ONNX Runtime's CPU
Softplus and Exp run a vector body and a scalar tail that round differently, and which elements
fall in the tail depends on the tensor's size, so a row's gate (and its scores, by up to 4.8e-7)
changed with the batch. Here each gate gets its own ``W_dt`` and ``A`` (float32; the exporter shares
equal constants between layers, so the originals are not edited) with zero columns up to a multiple
of 16 lanes: every size is then a multiple of the widest vector, every element takes the vector
body, and a Slice keeps the first ``n_kv`` lanes. The arithmetic of the kept lanes is unchanged.

Run as a script it rewrites model directories in place: ``python3 scripts/families/gate_lanes.py DIR…``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import onnx
from onnx import ModelProto, TensorProto, helper, numpy_helper

LANES = 16


def widen_gates(model: ModelProto, base_dir: str = "", lanes: int = LANES) -> int:
    """Rewrites every ``MatMul → Softplus → Mul(A) → Exp`` chain of ``model`` in place and returns
    how many; weights stored as external data are read from ``base_dir`` and stored inline."""
    graph = model.graph
    inits: Dict[str, TensorProto] = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: Dict[str, List[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def weight(name: str) -> TensorProto | None:
        """The initializer behind ``name``, through the widening Cast of a float16 export."""
        if name in inits:
            return inits[name]
        node = producer.get(name)
        if node is not None and node.op_type == "Cast" and node.input[0] in inits:
            return inits[node.input[0]]
        return None

    def widened(init: TensorProto, axis: int, name: str) -> str:
        """A new initializer ``name``: ``init`` (float32) with zeros up to ``lanes`` on ``axis``.
        New, not ``init`` edited, since the exporter shares equal constants between layers."""
        arr = numpy_helper.to_array(init, base_dir=base_dir).astype(np.float32)
        pad = [(0, 0)] * arr.ndim
        pad[axis] = (0, -arr.shape[axis] % lanes)
        graph.initializer.append(numpy_helper.from_array(np.pad(arr, pad), name))
        return name

    count = 0
    replaced: set = set()
    for softplus in [n for n in graph.node if n.op_type == "Softplus"]:
        matmul = producer.get(softplus.input[0])
        after = consumers.get(softplus.output[0], [])
        if matmul is None or matmul.op_type != "MatMul" or len(after) != 1 or after[0].op_type != "Mul":
            continue
        mul = after[0]
        exps = consumers.get(mul.output[0], [])
        w = weight(matmul.input[1])
        a_slot = next((i for i, n in enumerate(mul.input) if n != softplus.output[0]), None)
        a = weight(mul.input[a_slot]) if a_slot is not None else None
        if w is None or a is None or len(exps) != 1 or exps[0].op_type != "Exp" or len(w.dims) != 2:
            continue
        width = w.dims[1]
        if width % lanes == 0 or list(a.dims) != [width]:
            continue
        exp = exps[0]
        prefix = exp.name or exp.output[0]
        replaced.update([matmul.input[1], mul.input[a_slot], w.name, a.name])
        matmul.input[1] = widened(w, 1, f"{prefix}/lanes_weight")
        mul.input[a_slot] = widened(a, 0, f"{prefix}/lanes_A")
        narrow = exp.output[0]
        wide = narrow + "_lanes"
        exp.output[0] = wide
        consts = {
            "starts": [0],
            "ends": [width],
            "axes": [-1],
        }
        for key, value in consts.items():
            graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.int64), f"{prefix}/lanes_{key}"))
        at = list(graph.node).index(exp) + 1
        graph.node.insert(at, helper.make_node(
            "Slice", [wide] + [f"{prefix}/lanes_{k}" for k in consts], [narrow], name=f"{prefix}/lanes_slice"))
        count += 1
    # The originals (and their float16 Casts) where no other node reads them any more.
    read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    casts = [n for n in graph.node if n.op_type == "Cast" and n.output[0] in replaced and n.output[0] not in read]
    for n in casts:
        graph.node.remove(n)
    read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    kept = [i for i in graph.initializer if i.name not in replaced or i.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    # The widened MatMul's value_info (if shape inference left any) would now be wrong.
    stale = {m.output[0] for m in graph.node if m.op_type in ("MatMul", "Softplus", "Mul", "Exp")}
    kept = [v for v in graph.value_info if v.name not in stale]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return count


def main(dirs: List[str]) -> None:
    for d in dirs:
        path = Path(d) / "model.onnx"
        model = onnx.load(str(path))
        n = widen_gates(model)
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        print(f"{path}: {n} gates widened to {LANES} lanes")


if __name__ == "__main__":
    main(sys.argv[1:])
