"""Folds the shape arithmetic of an exported graph: values computed from tensor shapes that are
known when the graph is written become constants, and the shapes given to ``Reshape`` and
``Expand`` are rewritten with ONNX's "keep this dim" markers (``0`` for Reshape, ``1`` for
Expand) wherever they only repeat a dim of their own input.

Why: the TorchScript exporter spells every ``view(b, s, h, d)`` as Shape → Gather → Unsqueeze →
Concat → Reshape, and onnxruntime runs each of those small nodes on the host, one after another,
even when the model runs on a GPU. In a decoder step of a 16-layer GQA model they were more than
half of ~1,950 nodes (831 remain). The arithmetic the graph does on real data is not touched, so
the logits stay bit for bit the same. (On an H200, GQA's loop decode with the folded graph was
about where an H100 had it with the unfolded one, so the fewer nodes were not shown to pay:
docs/BENCHMARKS.md.)

How: a symbolic pass over the top-level graph gives every tensor a shape whose dims are
polynomials over the graph inputs' named dims (``batch_size``, ``sequence_length``, …) and fresh
symbols for what it cannot follow, and every small integer tensor a value made of the same
polynomials. Equal polynomials are equal at run time, so a rewrite is made only where the pass can
prove the new constant means the same; anything it does not understand stays as it was.
"""

from __future__ import annotations

import itertools
from typing import Dict, List, Optional, Tuple

import numpy as np
from onnx import GraphProto, ModelProto, NodeProto, TensorProto, helper, numpy_helper

Poly = Tuple[Tuple[Tuple[str, ...], int], ...]
"""A polynomial with integer coefficients: sorted (monomial, coefficient) pairs; () is the constant."""

_fresh = itertools.count()
INT_TYPES = (TensorProto.INT64, TensorProto.INT32)
BIG = 2**62  # slice ends at or past this mean "to the end"


def const(c: int) -> Poly:
    return (((), c),) if c != 0 else ()


def symbol(name: str) -> Poly:
    return (((name,), 1),)


def fresh() -> Poly:
    return symbol(f"?{next(_fresh)}")


def _norm(terms: Dict[Tuple[str, ...], int]) -> Poly:
    return tuple(sorted((m, c) for m, c in terms.items() if c != 0))


def add(a: Poly, b: Poly, sign: int = 1) -> Poly:
    terms = dict(a)
    for m, c in b:
        terms[m] = terms.get(m, 0) + sign * c
    return _norm(terms)


def mul(a: Poly, b: Poly) -> Poly:
    terms: Dict[Tuple[str, ...], int] = {}
    for (ma, ca), (mb, cb) in itertools.product(a, b):
        m = tuple(sorted(ma + mb))
        terms[m] = terms.get(m, 0) + ca * cb
    return _norm(terms)


def as_int(p: Poly) -> Optional[int]:
    if not p:
        return 0
    if len(p) == 1 and p[0][0] == ():
        return p[0][1]
    return None


def divide(a: Poly, b: Poly) -> Optional[Poly]:
    """a / b when b is a monomial that divides every term of a exactly; else None."""
    if len(b) != 1:
        return None
    (mb, cb), = b
    out: Dict[Tuple[str, ...], int] = {}
    for m, c in a:
        rest = list(m)
        for s in mb:
            if s not in rest:
                return None
            rest.remove(s)
        if c % cb != 0:
            return None
        out[tuple(rest)] = c // cb
    return _norm(out)


Shape = Optional[List[Poly]]


class _Facts:
    """What the pass knows of each value: shape, element type, and (small ints) the value."""

    def __init__(self) -> None:
        self.shape: Dict[str, Shape] = {}
        self.dtype: Dict[str, int] = {}
        self.value: Dict[str, List[Poly]] = {}

    def dims(self, name: str) -> Shape:
        return self.shape.get(name)

    def set(self, name: str, shape: Shape, dtype: Optional[int], value: Optional[List[Poly]] = None) -> None:
        self.shape[name] = shape
        if dtype is not None:
            self.dtype[name] = dtype
        if value is not None and self.dtype.get(name) in INT_TYPES + (TensorProto.BOOL,):
            self.value[name] = value


def _attr(node: NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _ints(facts: _Facts, name: str) -> Optional[List[int]]:
    if not name or name not in facts.value:
        return None
    out = [as_int(p) for p in facts.value[name]]
    return None if any(v is None for v in out) else out


def _broadcast(shapes: List[Shape]) -> Shape:
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)
    out: List[Poly] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        real = [d for d in dims if as_int(d) != 1]
        if not real:
            out.append(const(1))
        elif all(d == real[0] for d in real):
            out.append(real[0])
        else:
            out.append(fresh())  # which side is 1 at run time is not known here
    return out


def nonnegative(p: Poly) -> bool:
    """Whether ``p`` is a sum of products of dims with positive coefficients (so never negative)."""
    return all(c > 0 for _, c in p)


def _equal(a: Poly, b: Poly) -> Optional[bool]:
    if a == b:
        return True
    ia, ib = as_int(a), as_int(b)
    if ia is not None and ib is not None:
        return ia == ib
    for x, y in ((a, b), (b, a)):
        iy = as_int(y)
        if iy is not None and iy < 0 and nonnegative(x):
            return False
    return None


def _scalar_values(facts: _Facts, names: List[str]) -> Optional[List[List[Poly]]]:
    vals = [facts.value.get(n) for n in names]
    if any(v is None for v in vals):
        return None
    n = max(len(v) for v in vals)
    if any(len(v) not in (1, n) for v in vals):
        return None
    return [v * n if len(v) == 1 else v for v in vals]


ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Where", "Equal", "Less", "LessOrEqual",
               "Greater", "GreaterOrEqual", "And", "Or", "Xor", "PRelu", "BitShift", "Sum", "Mean"}
COMPARISONS = {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN",
               "IsInf"}
UNARY = {"Identity", "Neg", "Abs", "Sqrt", "Exp", "Log", "Sigmoid", "Tanh", "Relu", "Softplus", "Reciprocal",
         "Erf", "Floor", "Ceil", "Sin", "Cos", "Not", "IsNaN", "IsInf", "Softmax", "LogSoftmax", "CumSum",
         "Trilu", "Round", "Sign", "Clip", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "Dropout"}


def _infer(node: NodeProto, facts: _Facts, opset: int) -> None:
    op, ins, outs = node.op_type, list(node.input), list(node.output)
    first_type = facts.dtype.get(ins[0]) if ins and ins[0] else None
    shape_of = facts.dims

    def unknown() -> None:
        for o in outs:
            if o:
                facts.set(o, None, None)

    if node.domain not in ("", "ai.onnx"):
        return unknown()
    if op == "Constant":
        t = _attr(node, "value")
        if t is None:
            ints = _attr(node, "value_ints")
            one = _attr(node, "value_int")
            if ints is not None:
                facts.set(outs[0], [const(len(ints))], TensorProto.INT64, [const(int(v)) for v in ints])
            elif one is not None:
                facts.set(outs[0], [], TensorProto.INT64, [const(int(one))])
            return unknown() if ints is None and one is None else None
        arr = numpy_helper.to_array(t)
        value = [const(int(v)) for v in arr.reshape(-1)] if t.data_type in INT_TYPES and arr.size <= 64 else None
        facts.set(outs[0], [const(d) for d in arr.shape], t.data_type, value)
        return
    if op in UNARY or op == "Cast":
        dtype = _attr(node, "to") if op == "Cast" else (TensorProto.BOOL if op in COMPARISONS else first_type)
        value = facts.value.get(ins[0]) if op in ("Identity", "Cast") and dtype in INT_TYPES else None
        if op == "Neg" and ins[0] in facts.value:
            value = [mul(v, const(-1)) for v in facts.value[ins[0]]]
        facts.set(outs[0], shape_of(ins[0]), dtype, value)
        for o in outs[1:]:
            if o:
                facts.set(o, None, None)
        return
    if op in ELEMENTWISE:
        shape = _broadcast([shape_of(n) for n in ins if n])
        dtype = TensorProto.BOOL if op in COMPARISONS else facts.dtype.get(ins[1] if op == "Where" else ins[0])
        value = None
        if op == "Equal" and len(ins) == 2:
            vals = _scalar_values(facts, ins)
            if vals is not None:
                decided = [_equal(a, b) for a, b in zip(*vals)]
                value = None if None in decided else [const(int(d)) for d in decided]
        if op == "Where":
            vals = _scalar_values(facts, ins)
            if vals is not None and all(as_int(c) is not None for c in vals[0]):
                value = [x if as_int(c) else y for c, x, y in zip(*vals)]
        if op in ("Add", "Sub", "Mul", "Div", "Max", "Min") and len(ins) == 2 and dtype in INT_TYPES:
            vals = _scalar_values(facts, ins)
            if vals is not None:
                value = []
                for a, b in zip(*vals):
                    if op == "Add":
                        value.append(add(a, b))
                    elif op == "Sub":
                        value.append(add(a, b, -1))
                    elif op == "Mul":
                        value.append(mul(a, b))
                    elif op == "Div":
                        q = divide(a, b)
                        ia, ib = as_int(a), as_int(b)
                        if q is None and ia is not None and ib:
                            q = const(int(ia / ib))  # ONNX integer Div truncates toward zero
                        if q is None or (ia is None and as_int(b) is not None and as_int(b) < 0):
                            value = None
                            break
                        value.append(q)
                    else:
                        ia, ib = as_int(a), as_int(b)
                        if ia is None or ib is None:
                            value = None
                            break
                        value.append(const(max(ia, ib) if op == "Max" else min(ia, ib)))
        facts.set(outs[0], shape, dtype, value)
        return
    if op == "Shape":
        s = shape_of(ins[0])
        if s is None:
            return facts.set(outs[0], None, TensorProto.INT64)
        start, end = _attr(node, "start", 0), _attr(node, "end", None)
        picked = s[start:end] if end is not None else s[start:]
        return facts.set(outs[0], [const(len(picked))], TensorProto.INT64, list(picked))
    if op == "Size":
        s = shape_of(ins[0])
        value = None
        if s is not None:
            total = const(1)
            for d in s:
                total = mul(total, d)
            value = [total]
        return facts.set(outs[0], [], TensorProto.INT64, value)
    if op == "Transpose":
        s = shape_of(ins[0])
        if s is None:
            return facts.set(outs[0], None, first_type)
        perm = _attr(node, "perm", list(reversed(range(len(s)))))
        return facts.set(outs[0], [s[p] for p in perm], first_type)
    if op == "MatMul":
        a, b = shape_of(ins[0]), shape_of(ins[1])
        if a is None or b is None or len(a) < 2 or len(b) < 2:
            return facts.set(outs[0], None, first_type)
        batch = _broadcast([a[:-2], b[:-2]])
        return facts.set(outs[0], batch + [a[-2], b[-1]] if batch is not None else None, first_type)
    if op in ("Unsqueeze", "Squeeze"):
        s = shape_of(ins[0])
        axes = _attr(node, "axes") if opset < 13 else (_ints(facts, ins[1]) if len(ins) > 1 else None)
        value = facts.value.get(ins[0])
        if s is None or (axes is None and op == "Unsqueeze"):
            return facts.set(outs[0], None, first_type)
        if op == "Unsqueeze":
            rank = len(s) + len(axes)
            axes = sorted(a % rank for a in axes)
            out = list(s)
            for a in axes:
                out.insert(a, const(1))
        else:
            if axes is None:
                axes = [i for i, d in enumerate(s) if as_int(d) == 1]
            axes = {a % len(s) for a in axes}
            out = [d for i, d in enumerate(s) if i not in axes]
        return facts.set(outs[0], out, first_type, value if len(out) <= 1 else None)
    if op == "Concat":
        shapes = [shape_of(n) for n in ins]
        if any(s is None for s in shapes):
            return facts.set(outs[0], None, first_type)
        axis = _attr(node, "axis") % len(shapes[0])
        total: Poly = ()
        for s in shapes:
            total = add(total, s[axis])
        out = list(shapes[0])
        out[axis] = total
        value = None
        if all(n in facts.value for n in ins) and len(out) == 1:
            value = [v for n in ins for v in facts.value[n]]
        return facts.set(outs[0], out, first_type, value)
    if op == "Gather":
        data, idx = shape_of(ins[0]), shape_of(ins[1])
        if data is None or idx is None:
            return facts.set(outs[0], None, first_type)
        axis = _attr(node, "axis", 0) % len(data)
        out = data[:axis] + idx + data[axis + 1:]
        value = None
        picks = _ints(facts, ins[1])
        if ins[0] in facts.value and picks is not None and len(data) == 1:
            vals = facts.value[ins[0]]
            if all(-len(vals) <= p < len(vals) for p in picks):
                value = [vals[p] for p in picks]
        return facts.set(outs[0], out, first_type, value)
    if op == "Slice" and opset >= 10:
        data = shape_of(ins[0])
        starts, ends = _ints(facts, ins[1]), _ints(facts, ins[2])
        axes = _ints(facts, ins[3]) if len(ins) > 3 and ins[3] else None
        steps = _ints(facts, ins[4]) if len(ins) > 4 and ins[4] else None
        if data is None or starts is None or ends is None or (len(ins) > 3 and ins[3] and axes is None) or \
                (len(ins) > 4 and ins[4] and steps is None):
            return facts.set(outs[0], None if data is None else [fresh() for _ in data], first_type)
        axes = axes if axes is not None else list(range(len(starts)))
        steps = steps if steps is not None else [1] * len(starts)
        out = list(data)
        for s, e, a, st in zip(starts, ends, axes, steps):
            a %= len(data)
            n = as_int(data[a])
            if n is not None:
                out[a] = const(len(range(n)[slice(s, e if e < BIG else None, st)]))
            elif s == 0 and e >= BIG and st == 1:
                out[a] = data[a]
            else:
                out[a] = fresh()
        value = None
        if ins[0] in facts.value and len(data) == 1:
            vals = facts.value[ins[0]]
            s, e, st = starts[0], ends[0], steps[0]
            value = vals[slice(s, e if e < BIG else None, st)]
        return facts.set(outs[0], out, first_type, value)
    if op == "Reshape":
        data, target = shape_of(ins[0]), facts.value.get(ins[1])
        if target is None:
            rank = shape_of(ins[1])
            n = as_int(rank[0]) if rank else None
            return facts.set(outs[0], [fresh() for _ in range(n)] if n is not None else None, first_type)
        out: List[Optional[Poly]] = []
        for i, t in enumerate(target):
            v = as_int(t)
            if v == 0 and not _attr(node, "allowzero", 0):
                out.append(data[i] if data is not None and i < len(data) else fresh())
            else:
                out.append(None if v == -1 else t)
        if None in out:
            i = out.index(None)
            known = const(1)
            for j, d in enumerate(out):
                if j != i:
                    known = mul(known, d)
            total = None
            if data is not None:
                total = const(1)
                for d in data:
                    total = mul(total, d)
            q = divide(total, known) if total is not None else None
            out[i] = q if q is not None else fresh()
        value = facts.value.get(ins[0]) if len(out) <= 1 else None
        return facts.set(outs[0], out, first_type, value)
    if op == "Expand":
        data, target = shape_of(ins[0]), facts.value.get(ins[1])
        if data is None or target is None:
            return facts.set(outs[0], None, first_type)
        return facts.set(outs[0], _broadcast([data, target]), first_type)
    if op == "ConstantOfShape":
        t = _attr(node, "value")
        dtype = t.data_type if t is not None else TensorProto.FLOAT
        target = facts.value.get(ins[0])
        value = None
        if t is not None and dtype in INT_TYPES and target is not None:
            n = 1
            for d in target:
                n = n * as_int(d) if as_int(d) is not None else None
                if n is None:
                    break
            if n is not None and n <= 64:
                value = [const(int(numpy_helper.to_array(t).reshape(-1)[0]))] * n
        if target is None:
            rank = shape_of(ins[0])
            n = as_int(rank[0]) if rank else None
            return facts.set(outs[0], [fresh() for _ in range(n)] if n is not None else None, dtype)
        return facts.set(outs[0], list(target), dtype, value if len(target) <= 1 else None)
    if op == "Range":
        start, limit, delta = (facts.value.get(n) for n in ins)
        length = fresh()
        if start and limit and delta and as_int(delta[0]) == 1:
            length = add(limit[0], start[0], -1)
        return facts.set(outs[0], [length], first_type)
    if op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ArgMax", "ArgMin"):
        s = shape_of(ins[0])
        if op in ("ArgMax", "ArgMin"):
            axes = [_attr(node, "axis", 0)]
        elif op == "ReduceSum" and opset >= 13 or opset >= 18:
            axes = _ints(facts, ins[1]) if len(ins) > 1 and ins[1] else None
        else:
            axes = _attr(node, "axes")
        dtype = TensorProto.INT64 if op in ("ArgMax", "ArgMin") else first_type
        if s is None or axes is None:
            return facts.set(outs[0], None, dtype)
        axes = {a % len(s) for a in axes}
        keep = _attr(node, "keepdims", 1)
        out = [const(1) if i in axes else d for i, d in enumerate(s) if keep or i not in axes]
        return facts.set(outs[0], out, dtype)
    if op in ("ScatterElements", "ScatterND"):
        return facts.set(outs[0], shape_of(ins[0]), first_type)
    if op == "TopK":
        s = shape_of(ins[0])
        k = facts.value.get(ins[1])
        if s is None:
            facts.set(outs[0], None, first_type)
            return facts.set(outs[1], None, TensorProto.INT64)
        axis = _attr(node, "axis", -1) % len(s)
        out = list(s)
        out[axis] = k[0] if k else fresh()
        facts.set(outs[0], out, first_type)
        return facts.set(outs[1], list(out), TensorProto.INT64)
    return unknown()


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
    facts = _Facts()
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
            _infer(node, facts, opset)
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
            ints = _ints(facts, o)
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
            new = _reshape_target(target, data) if target is not None and not _attr(node, "allowzero", 0) else None
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
