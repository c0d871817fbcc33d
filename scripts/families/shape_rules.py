"""What ``fold_shapes`` knows of each value of a graph, and the rule of each ONNX operator that
carries it from a node's inputs to its outputs: a shape whose dims are polynomials (``symbolic``),
the element type, and for small integer tensors their values. An operator without a rule, or one a
rule cannot follow, leaves its outputs unknown, and nothing downstream is rewritten on their
account.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from onnx import NodeProto, TensorProto, helper, numpy_helper

from .symbolic import Poly, add, as_int, const, divide, equal, fresh, mul

Shape = Optional[List[Poly]]
INT_TYPES = (TensorProto.INT64, TensorProto.INT32)
BIG = 2**62  # slice ends at or past this mean "to the end"


class Facts:
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

    def ints(self, name: str) -> Optional[List[int]]:
        """The value of ``name`` as plain integers, when every one of them is known."""
        if not name or name not in self.value:
            return None
        out = [as_int(p) for p in self.value[name]]
        return None if any(v is None for v in out) else out


def attr(node: NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def broadcast(shapes: List[Shape]) -> Shape:
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


def _scalar_values(facts: Facts, names: List[str]) -> Optional[List[List[Poly]]]:
    vals = [facts.value.get(n) for n in names]
    if any(v is None for v in vals):
        return None
    n = max(len(v) for v in vals)
    if any(len(v) not in (1, n) for v in vals):
        return None
    return [v * n if len(v) == 1 else v for v in vals]


def _product(dims: List[Poly]) -> Poly:
    total = const(1)
    for d in dims:
        total = mul(total, d)
    return total


ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Where", "Equal", "Less", "LessOrEqual",
               "Greater", "GreaterOrEqual", "And", "Or", "Xor", "PRelu", "BitShift", "Sum", "Mean"}
COMPARISONS = {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN",
               "IsInf"}
UNARY = {"Identity", "Neg", "Abs", "Sqrt", "Exp", "Log", "Sigmoid", "Tanh", "Relu", "Softplus", "Reciprocal",
         "Erf", "Floor", "Ceil", "Sin", "Cos", "Not", "IsNaN", "IsInf", "Softmax", "LogSoftmax", "CumSum",
         "Trilu", "Round", "Sign", "Clip", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "Dropout"}
REDUCTIONS = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ArgMax", "ArgMin"}

Rule = Callable[[NodeProto, Facts, int], None]
"""Sets the facts of a node's outputs from those of its inputs (``int``: the graph's opset)."""


def _unknown(node: NodeProto, facts: Facts, opset: int) -> None:
    for o in node.output:
        if o:
            facts.set(o, None, None)


def _first_type(node: NodeProto, facts: Facts) -> Optional[int]:
    return facts.dtype.get(node.input[0]) if node.input and node.input[0] else None


def _constant(node: NodeProto, facts: Facts, opset: int) -> None:
    out = node.output[0]
    t = attr(node, "value")
    if t is None:
        ints, one = attr(node, "value_ints"), attr(node, "value_int")
        if ints is not None:
            facts.set(out, [const(len(ints))], TensorProto.INT64, [const(int(v)) for v in ints])
        elif one is not None:
            facts.set(out, [], TensorProto.INT64, [const(int(one))])
        else:
            _unknown(node, facts, opset)
        return
    arr = numpy_helper.to_array(t)
    value = [const(int(v)) for v in arr.reshape(-1)] if t.data_type in INT_TYPES and arr.size <= 64 else None
    facts.set(out, [const(d) for d in arr.shape], t.data_type, value)


def _unary(node: NodeProto, facts: Facts, opset: int) -> None:
    op, x = node.op_type, node.input[0]
    dtype = attr(node, "to") if op == "Cast" else (TensorProto.BOOL if op in COMPARISONS else _first_type(node, facts))
    value = facts.value.get(x) if op in ("Identity", "Cast") and dtype in INT_TYPES else None
    if op == "Neg" and x in facts.value:
        value = [mul(v, const(-1)) for v in facts.value[x]]
    facts.set(node.output[0], facts.dims(x), dtype, value)
    for o in node.output[1:]:
        if o:
            facts.set(o, None, None)


def _arithmetic(op: str, a: Poly, b: Poly) -> Optional[Poly]:
    """``a op b`` for an integer operator, None where it can't be written as a polynomial."""
    if op == "Add":
        return add(a, b)
    if op == "Sub":
        return add(a, b, -1)
    if op == "Mul":
        return mul(a, b)
    ia, ib = as_int(a), as_int(b)
    if op == "Div":
        q = divide(a, b)
        if q is None and ia is not None and ib:
            q = const(int(ia / ib))  # ONNX integer Div truncates toward zero
        return None if q is None or (ia is None and ib is not None and ib < 0) else q
    if ia is None or ib is None:
        return None
    return const(max(ia, ib) if op == "Max" else min(ia, ib))


def _elementwise(node: NodeProto, facts: Facts, opset: int) -> None:
    op, ins = node.op_type, list(node.input)
    shape = broadcast([facts.dims(n) for n in ins if n])
    dtype = TensorProto.BOOL if op in COMPARISONS else facts.dtype.get(ins[1] if op == "Where" else ins[0])
    value = None
    vals = _scalar_values(facts, ins)
    if op == "Equal" and len(ins) == 2 and vals is not None:
        decided = [equal(a, b) for a, b in zip(*vals)]
        value = None if None in decided else [const(int(d)) for d in decided]
    if op == "Where" and vals is not None and all(as_int(c) is not None for c in vals[0]):
        value = [x if as_int(c) else y for c, x, y in zip(*vals)]
    if op in ("Add", "Sub", "Mul", "Div", "Max", "Min") and len(ins) == 2 and dtype in INT_TYPES and vals is not None:
        results = [_arithmetic(op, a, b) for a, b in zip(*vals)]
        value = None if any(r is None for r in results) else results
    facts.set(node.output[0], shape, dtype, value)


def _shape(node: NodeProto, facts: Facts, opset: int) -> None:
    s = facts.dims(node.input[0])
    if s is None:
        return facts.set(node.output[0], None, TensorProto.INT64)
    start, end = attr(node, "start", 0), attr(node, "end", None)
    picked = s[start:end] if end is not None else s[start:]
    facts.set(node.output[0], [const(len(picked))], TensorProto.INT64, list(picked))


def _size(node: NodeProto, facts: Facts, opset: int) -> None:
    s = facts.dims(node.input[0])
    facts.set(node.output[0], [], TensorProto.INT64, [_product(s)] if s is not None else None)


def _transpose(node: NodeProto, facts: Facts, opset: int) -> None:
    s, dtype = facts.dims(node.input[0]), _first_type(node, facts)
    if s is None:
        return facts.set(node.output[0], None, dtype)
    perm = attr(node, "perm", list(reversed(range(len(s)))))
    facts.set(node.output[0], [s[p] for p in perm], dtype)


def _matmul(node: NodeProto, facts: Facts, opset: int) -> None:
    a, b, dtype = facts.dims(node.input[0]), facts.dims(node.input[1]), _first_type(node, facts)
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return facts.set(node.output[0], None, dtype)
    batch = broadcast([a[:-2], b[:-2]])
    facts.set(node.output[0], batch + [a[-2], b[-1]] if batch is not None else None, dtype)


def _squeeze(node: NodeProto, facts: Facts, opset: int) -> None:
    op, ins, dtype = node.op_type, list(node.input), _first_type(node, facts)
    s = facts.dims(ins[0])
    axes = attr(node, "axes") if opset < 13 else (facts.ints(ins[1]) if len(ins) > 1 else None)
    value = facts.value.get(ins[0])
    if s is None or (axes is None and op == "Unsqueeze"):
        return facts.set(node.output[0], None, dtype)
    if op == "Unsqueeze":
        rank = len(s) + len(axes)
        out = list(s)
        for a in sorted(a % rank for a in axes):
            out.insert(a, const(1))
    else:
        if axes is None:
            axes = [i for i, d in enumerate(s) if as_int(d) == 1]
        dropped = {a % len(s) for a in axes}
        out = [d for i, d in enumerate(s) if i not in dropped]
    facts.set(node.output[0], out, dtype, value if len(out) <= 1 else None)


def _concat(node: NodeProto, facts: Facts, opset: int) -> None:
    ins, dtype = list(node.input), _first_type(node, facts)
    shapes = [facts.dims(n) for n in ins]
    if any(s is None for s in shapes):
        return facts.set(node.output[0], None, dtype)
    axis = attr(node, "axis") % len(shapes[0])
    total: Poly = ()
    for s in shapes:
        total = add(total, s[axis])
    out = list(shapes[0])
    out[axis] = total
    value = None
    if all(n in facts.value for n in ins) and len(out) == 1:
        value = [v for n in ins for v in facts.value[n]]
    facts.set(node.output[0], out, dtype, value)


def _gather(node: NodeProto, facts: Facts, opset: int) -> None:
    ins, dtype = list(node.input), _first_type(node, facts)
    data, idx = facts.dims(ins[0]), facts.dims(ins[1])
    if data is None or idx is None:
        return facts.set(node.output[0], None, dtype)
    axis = attr(node, "axis", 0) % len(data)
    value = None
    picks = facts.ints(ins[1])
    if ins[0] in facts.value and picks is not None and len(data) == 1:
        vals = facts.value[ins[0]]
        if all(-len(vals) <= p < len(vals) for p in picks):
            value = [vals[p] for p in picks]
    facts.set(node.output[0], data[:axis] + idx + data[axis + 1:], dtype, value)


def _slice(node: NodeProto, facts: Facts, opset: int) -> None:
    if opset < 10:
        return _unknown(node, facts, opset)
    ins, dtype = list(node.input), _first_type(node, facts)
    data = facts.dims(ins[0])
    starts, ends = facts.ints(ins[1]), facts.ints(ins[2])
    given_axes, given_steps = len(ins) > 3 and ins[3], len(ins) > 4 and ins[4]
    axes = facts.ints(ins[3]) if given_axes else None
    steps = facts.ints(ins[4]) if given_steps else None
    if data is None or starts is None or ends is None or (given_axes and axes is None) or \
            (given_steps and steps is None):
        return facts.set(node.output[0], None if data is None else [fresh() for _ in data], dtype)
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
        value = facts.value[ins[0]][slice(starts[0], ends[0] if ends[0] < BIG else None, steps[0])]
    facts.set(node.output[0], out, dtype, value)


def _reshape(node: NodeProto, facts: Facts, opset: int) -> None:
    ins, dtype = list(node.input), _first_type(node, facts)
    data, target = facts.dims(ins[0]), facts.value.get(ins[1])
    if target is None:
        rank = facts.dims(ins[1])
        n = as_int(rank[0]) if rank else None
        return facts.set(node.output[0], [fresh() for _ in range(n)] if n is not None else None, dtype)
    out: List[Optional[Poly]] = []
    for i, t in enumerate(target):
        v = as_int(t)
        if v == 0 and not attr(node, "allowzero", 0):
            out.append(data[i] if data is not None and i < len(data) else fresh())
        else:
            out.append(None if v == -1 else t)
    if None in out:
        i = out.index(None)
        known = _product([d for j, d in enumerate(out) if j != i])
        q = divide(_product(data), known) if data is not None else None
        out[i] = q if q is not None else fresh()
    facts.set(node.output[0], out, dtype, facts.value.get(ins[0]) if len(out) <= 1 else None)


def _expand(node: NodeProto, facts: Facts, opset: int) -> None:
    data, target = facts.dims(node.input[0]), facts.value.get(node.input[1])
    dtype = _first_type(node, facts)
    if data is None or target is None:
        return facts.set(node.output[0], None, dtype)
    facts.set(node.output[0], broadcast([data, target]), dtype)


def _constant_of_shape(node: NodeProto, facts: Facts, opset: int) -> None:
    t = attr(node, "value")
    dtype = t.data_type if t is not None else TensorProto.FLOAT
    target = facts.value.get(node.input[0])
    if target is None:
        rank = facts.dims(node.input[0])
        n = as_int(rank[0]) if rank else None
        return facts.set(node.output[0], [fresh() for _ in range(n)] if n is not None else None, dtype)
    value = None
    if t is not None and dtype in INT_TYPES:
        sizes = [as_int(d) for d in target]
        n = None if None in sizes else _product([const(s) for s in sizes])
        if n is not None and as_int(n) <= 64:
            value = [const(int(numpy_helper.to_array(t).reshape(-1)[0]))] * as_int(n)
    facts.set(node.output[0], list(target), dtype, value if len(target) <= 1 else None)


def _range(node: NodeProto, facts: Facts, opset: int) -> None:
    start, limit, delta = (facts.value.get(n) for n in node.input)
    length = fresh()
    if start and limit and delta and as_int(delta[0]) == 1:
        length = add(limit[0], start[0], -1)
    facts.set(node.output[0], [length], _first_type(node, facts))


def _reduce(node: NodeProto, facts: Facts, opset: int) -> None:
    op, ins = node.op_type, list(node.input)
    s = facts.dims(ins[0])
    if op in ("ArgMax", "ArgMin"):
        axes = [attr(node, "axis", 0)]
    elif op == "ReduceSum" and opset >= 13 or opset >= 18:
        axes = facts.ints(ins[1]) if len(ins) > 1 and ins[1] else None
    else:
        axes = attr(node, "axes")
    dtype = TensorProto.INT64 if op in ("ArgMax", "ArgMin") else _first_type(node, facts)
    if s is None or axes is None:
        return facts.set(node.output[0], None, dtype)
    reduced = {a % len(s) for a in axes}
    keep = attr(node, "keepdims", 1)
    facts.set(node.output[0], [const(1) if i in reduced else d for i, d in enumerate(s) if keep or i not in reduced],
              dtype)


def _scatter(node: NodeProto, facts: Facts, opset: int) -> None:
    facts.set(node.output[0], facts.dims(node.input[0]), _first_type(node, facts))


def _topk(node: NodeProto, facts: Facts, opset: int) -> None:
    s, k, dtype = facts.dims(node.input[0]), facts.value.get(node.input[1]), _first_type(node, facts)
    if s is None:
        facts.set(node.output[0], None, dtype)
        return facts.set(node.output[1], None, TensorProto.INT64)
    axis = attr(node, "axis", -1) % len(s)
    out = list(s)
    out[axis] = k[0] if k else fresh()
    facts.set(node.output[0], out, dtype)
    facts.set(node.output[1], list(out), TensorProto.INT64)


RULES: Dict[str, Rule] = {
    "Constant": _constant,
    "Cast": _unary,
    **{op: _unary for op in UNARY},
    **{op: _elementwise for op in ELEMENTWISE},
    "Shape": _shape,
    "Size": _size,
    "Transpose": _transpose,
    "MatMul": _matmul,
    "Unsqueeze": _squeeze,
    "Squeeze": _squeeze,
    "Concat": _concat,
    "Gather": _gather,
    "Slice": _slice,
    "Reshape": _reshape,
    "Expand": _expand,
    "ConstantOfShape": _constant_of_shape,
    "Range": _range,
    **{op: _reduce for op in REDUCTIONS},
    "ScatterElements": _scatter,
    "ScatterND": _scatter,
    "TopK": _topk,
}
"""The rule of each operator of the default domain the pass follows."""


def infer(node: NodeProto, facts: Facts, opset: int) -> None:
    """Sets the facts of ``node``'s outputs by its operator's rule (unknown without one)."""
    rule = RULES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    (rule or _unknown)(node, facts, opset)
