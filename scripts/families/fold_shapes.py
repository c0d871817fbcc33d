"""Folds the shape arithmetic of an exported graph: values computed from tensor shapes that are
known when the graph is written become constants, and the shapes given to ``Reshape`` and
``Expand`` are rewritten with ONNX's "keep this dim" markers (``0`` for Reshape, ``1`` for
Expand) wherever they only repeat a dim of their own input.

Why: the TorchScript exporter spells every ``view(b, s, h, d)`` as Shape → Gather → Unsqueeze →
Concat → Reshape, and onnxruntime runs each of those small nodes on the host, one after another,
even when the model runs on a GPU. In a decoder step of a 16-layer GQA model they were more than
half of ~1,950 nodes (831 remain). The arithmetic the graph does on real data is not
touched, so the logits stay bit for bit the same. It pays where launches set the pace: on an H100
(2026-12-06, docs/BENCHMARKS.md) a GQA decode step at 4K took 14.1 ms folded against 18.6 ms
unfolded, the same at 32K (21.8 vs 22.1 ms), where the attention's kernels dominate.

How: a symbolic pass over the top-level graph (``shape_rules``) gives every tensor a shape whose
dims are polynomials over the graph inputs' named dims (``symbolic``: ``batch_size``,
``sequence_length``, …) and fresh symbols for what it cannot follow, and every small integer tensor
a value made of the same polynomials. Equal polynomials are equal at run time, so a rewrite is made
only where the pass can prove the new constant means the same; anything it does not understand
stays as it was.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
from onnx import GraphProto, ModelProto, TensorProto, numpy_helper

from .shape_rules import INT_TYPES, Facts, Shape, attr, infer
from .symbolic import Poly, add, as_int, const, fresh, symbol


def _constant_tensor(name: str, values: List[int], shape: List[Poly], dtype: int) -> TensorProto:
    dims = [as_int(d) for d in shape]
    np_type = np.int64 if dtype == TensorProto.INT64 else np.int32
    return numpy_helper.from_array(np.array(values, dtype=np_type).reshape(dims), name)


def _subgraph_reads(graph: GraphProto) -> set:
    reads = set()
    for node in graph.node:
        for a in node.attribute:
            subs = [a.g] if a.type == a.GRAPH else list(a.graphs) if a.type == a.GRAPHS else []
            for g in subs:
                for n in g.node:
                    reads.update(n.input)
                reads |= _subgraph_reads(g)
    return reads


KVBENCH_SUMS = {"total_sequence_length": ("past_sequence_length", "sequence_length")}
"""The one relation between named dims that kvbench's exports declare: the attention mask spans the
state's slots and the new tokens (evals/model/stream.ts feeds it so)."""


def fold_shapes(model: ModelProto, sums: Optional[Dict[str, Tuple[str, ...]]] = None) -> Dict[str, int]:
    """Rewrites ``model`` in place (top-level graph); returns counts of what changed and of the
    nodes before and after.

    ``sums`` names dims that equal the sum of other named dims (default ``KVBENCH_SUMS``), applied
    when every dim it names appears among the graph inputs; the pass then knows, say, that scores
    over ``past + new`` keys line up with an attention mask over ``total_sequence_length``.
    """
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    facts = Facts()
    named = {d.dim_param for vi in graph.input for d in vi.type.tensor_type.shape.dim if d.dim_param}
    alias: Dict[str, Poly] = {}
    for total, parts in (KVBENCH_SUMS if sums is None else sums).items():
        if total in named and all(p in named for p in parts):
            alias[total] = ()
            for part in parts:
                alias[total] = add(alias[total], symbol(part))

    def dim_of(d) -> Poly:
        if d.HasField("dim_value"):
            return const(d.dim_value)
        if d.dim_param:
            return alias.get(d.dim_param, symbol(d.dim_param))
        return fresh()

    for vi in list(graph.input) + list(graph.output):
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = [dim_of(d) for d in tt.shape.dim]
        if vi.name not in facts.shape:
            facts.set(vi.name, dims, tt.elem_type)
    for init in graph.initializer:
        value = None
        if init.data_type in INT_TYPES and np.prod(init.dims, dtype=np.int64) <= 64 and not init.external_data:
            value = [const(int(v)) for v in numpy_helper.to_array(init).reshape(-1)]
        facts.set(init.name, [const(d) for d in init.dims], init.data_type, value)
    for node in graph.node:
        try:
            infer(node, facts, opset)
        except (ArithmeticError, IndexError, KeyError, TypeError, ValueError):
            # A node this pass reads wrongly (an odd rank, an attribute it doesn't expect) is
            # simply not understood: its outputs get no facts, so nothing downstream is rewritten
            # on their account.
            for o in node.output:
                if o:
                    facts.shape[o] = None
                    facts.value.pop(o, None)

    constants = {i.name for i in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    outputs = {o.name for o in graph.output}
    new_inits: List[TensorProto] = []
    renames: Dict[str, str] = {}
    counts = {"nodes_before": len(graph.node), "folded": 0, "reshapes": 0, "expands": 0}
    taken = {n for node in graph.node for n in list(node.input) + list(node.output)} | constants

    def new_name(base: str) -> str:
        name = base
        k = 0
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    for node in graph.node:
        for o in node.output:
            if not o or o in constants or o in outputs or o not in facts.value:
                continue
            ints = facts.ints(o)
            shape = facts.shape.get(o)
            if ints is None or shape is None or len(shape) > 1 or any(as_int(d) is None for d in shape):
                continue
            name = new_name(o + "/folded")
            new_inits.append(_constant_tensor(name, ints, shape, facts.dtype[o]))
            renames[o] = name
            counts["folded"] += 1
        if node.op_type == "Reshape" and node.domain in ("", "ai.onnx") and node.input[1] not in constants \
                and node.input[1] not in renames:
            target, data = facts.value.get(node.input[1]), facts.shape.get(node.input[0])
            new = _reshape_target(target, data) if target is not None and not attr(node, "allowzero", 0) else None
            if new is not None:
                name = new_name(node.input[1] + "/target")
                new_inits.append(numpy_helper.from_array(np.array(new, dtype=np.int64), name))
                renames[node.input[1]] = name
                counts["reshapes"] += 1
        if node.op_type == "Expand" and node.domain in ("", "ai.onnx") and node.input[1] not in constants \
                and node.input[1] not in renames:
            target, data = facts.value.get(node.input[1]), facts.shape.get(node.input[0])
            new = _expand_target(target, data) if target is not None else None
            if new is not None:
                name = new_name(node.input[1] + "/target")
                new_inits.append(numpy_helper.from_array(np.array(new, dtype=np.int64), name))
                renames[node.input[1]] = name
                counts["expands"] += 1
    # A value renamed for one consumer is renamed for all: every rewrite above is exact for the value.
    for node in graph.node:
        for i, n in enumerate(node.input):
            if n in renames:
                node.input[i] = renames[n]
    graph.initializer.extend(new_inits)
    _drop_dead(graph)
    counts["nodes_after"] = len(graph.node)
    return counts


def _reshape_target(target: List[Poly], data: Shape) -> Optional[List[int]]:
    out: List[Optional[int]] = []
    for i, t in enumerate(target):
        v = as_int(t)
        if v is not None:
            out.append(v)
        elif data is not None and i < len(data) and data[i] == t:
            out.append(0)
        else:
            out.append(None)
    if out.count(None) + out.count(-1) > 1:
        return None
    return [-1 if v is None else v for v in out]


def _expand_target(target: List[Poly], data: Shape) -> Optional[List[int]]:
    if data is None:
        return None
    out: List[int] = []
    for i, t in enumerate(target):
        v = as_int(t)
        j = len(data) - len(target) + i
        if v is not None:
            out.append(v)
        elif j >= 0 and data[j] == t:
            out.append(1)
        else:
            return None
    return out


def _drop_dead(graph: GraphProto) -> None:
    while True:
        read = {o.name for o in graph.output} | _subgraph_reads(graph)
        for node in graph.node:
            read.update(node.input)
        keep = [n for n in graph.node if any(o in read for o in n.output if o)]
        if len(keep) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(keep)
    used = read | {i.name for i in graph.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
