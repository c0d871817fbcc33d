"""Scores continuations of shared contexts in one onnxruntime call: the decoder runs twice in one
flat graph (the contexts, then every continuation from a copy of its context's state) and only
per-token log-probabilities come back, so neither the state nor a logits tensor leaves the device.

Inputs (``G`` contexts, ``R`` continuation rows):

- ``context_ids`` ``[G, Sc]`` and ``context_mask`` ``[G, Sc]``: the contexts, left-padded;
- ``continuation_ids`` ``[R, Sq]`` and ``continuation_mask`` ``[R, Sq]``: each row's continuation
  without its last token, right-padded (``Sq`` ≥ 1; a one-token continuation is all padding);
- ``owner`` ``[R]`` int64: the context row each continuation row continues;
- ``targets`` ``[R, Sq + 1]`` int64: the continuation tokens, one per predicting position.

Outputs: ``logprobs`` ``[R, Sq + 1]`` float32, the log-softmax (over the vocabulary, in float32) of
each target at its position — position 0 is predicted by the context's last logits, position j by
the continuation's token j - 1 — and ``greedy`` ``[R, Sq + 1]`` bool, whether the target is the
argmax there (the first maximum on ties, as torch.argmax). Padded positions hold garbage: the
caller reads the first ``len(continuation)`` of each row.

This is ``LanguageModel``'s prefix-reuse scoring (evals/lm.ts) moved into the graph: positions are
counted from the masks (``cumsum - 1``, 0 for leading padding) and the contexts start from empty
states (growing states of length 0, fixed states zeroed), as ``Stream`` feeds them.
"""

from __future__ import annotations

from typing import List

import onnx
from onnx import ModelProto, TensorProto, helper

from .decode_loop import DecodeLoopError, _const, _default_opset, _elem_type, _Wrapped, present_name_for

CONTEXT_PREFIX = "score_context/"
CONTINUATION_PREFIX = "score_continuation/"
HELPER_PREFIX = "score/"
INPUTS = ("context_ids", "context_mask", "continuation_ids", "continuation_mask", "owner", "targets")
OUTPUTS = ("logprobs", "greedy")


def build_score_graph(model: ModelProto) -> ModelProto:
    """Returns the scoring graph of ``model`` (a kvbench decoder); see the module docstring.

    ``model`` is consumed: its initializers move into the returned model.

    Raises:
        DecodeLoopError: when the decoder cannot be wrapped (see ``build_decode_loop``), a state's
            batch axis is not its first, or a decoder name collides with the graph's own inputs.
    """
    reserved = INPUTS + OUTPUTS
    names = {i.name for i in model.graph.input} | {o.name for o in model.graph.output}
    clash = sorted(set(reserved) & names)
    if clash:
        raise DecodeLoopError(f"Cannot build a score graph as the decoder already uses the names {', '.join(clash)}")
    # The second pass needs its own renamed copy of the nodes; both read the weights by name, and
    # only the first's copy of them goes into the result.
    twin = ModelProto()
    twin.CopyFrom(model)
    ctx = _Wrapped(model, CONTEXT_PREFIX, HELPER_PREFIX, reserved)
    cont = _Wrapped(twin, CONTINUATION_PREFIX, HELPER_PREFIX, reserved)
    h = ctx.h
    by_name = ctx.by_name
    i64 = TensorProto.INT64
    opset = _default_opset(model)
    ids_type = _elem_type(by_name["input_ids"])
    mask_type = _elem_type(by_name["attention_mask"])
    nodes: List[onnx.NodeProto] = []

    def node(op: str, inputs: List[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def unsqueeze(x: str, axis: int, output: str) -> str:
        if opset >= 13:
            nodes.append(_const(output + "/axes", i64, [1], [axis]))
            return node("Unsqueeze", [x, output + "/axes"], output)
        return node("Unsqueeze", [x], output, axes=[axis])

    def squeeze(x: str, axis: int, output: str) -> str:
        if opset >= 13:
            nodes.append(_const(output + "/axes", i64, [1], [axis]))
            return node("Squeeze", [x, output + "/axes"], output)
        return node("Squeeze", [x], output, axes=[axis])

    def positions(mask: str, start: str, into: str) -> None:
        """Positions of the mask's columns from ``start`` on: real tokens before each, 0 at first."""
        counted = mask if mask_type == i64 else node("Cast", [mask], mask + "/i64", to=i64)
        counts = node("CumSum", [counted, h + "axis1_scalar"], mask + "/counts")
        before = node("Max", [node("Sub", [counts, h + "one64"], mask + "/before"), h + "zero64"],
                      mask + "/positions")
        sliced = node("Slice", [before, start, h + "end1", h + "axis1"], into + "/i64")
        pos_type = _elem_type(by_name["position_ids"])
        node("Cast", [sliced], into, to=pos_type)

    def token_constants(w: _Wrapped, keep: int, cache_branch: bool) -> None:
        if "num_logits_to_keep" in w.by_name:
            nodes.append(_const(w.body_name("num_logits_to_keep"), _elem_type(w.by_name["num_logits_to_keep"]),
                                [], [keep]))
        if "use_cache_branch" in w.by_name:
            rank = len(w.by_name["use_cache_branch"].type.tensor_type.shape.dim)
            nodes.append(_const(w.body_name("use_cache_branch"), TensorProto.BOOL, [1] * rank, [cache_branch]))

    nodes += [
        _const(h + "zero1", i64, [1], [0]),
        _const(h + "one1", i64, [1], [1]),
        _const(h + "axis1", i64, [1], [1]),
        _const(h + "axis1_scalar", i64, [], [1]),
        _const(h + "end1", i64, [1], [2**62]),
        _const(h + "zero64", i64, [], [0]),
        _const(h + "one64", i64, [], [1]),
        _const(h + "last", i64, [], [-1]),
        helper.make_node("Shape", ["context_ids"], [h + "context_shape"], name=h + "context_shape"),
        helper.make_node("Slice", [h + "context_shape", h + "zero1", h + "one1"], [h + "contexts1"],
                         name=h + "contexts1"),
        helper.make_node("Slice", [h + "context_shape", h + "one1", h + "end1"], [h + "context_len1"],
                         name=h + "context_len1"),
    ]

    # Pass 1: the contexts from empty states; only their last position's logits are kept.
    node("Identity", ["context_ids"], ctx.body_name("input_ids"))
    node("Identity", ["context_mask"], ctx.body_name("attention_mask"))
    if ctx.has_positions:
        positions("context_mask", h + "zero1", ctx.body_name("position_ids"))
    token_constants(ctx, 1, False)
    for info in ctx.states:
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 0 or dims[0].HasField("dim_value"):
            raise DecodeLoopError(
                f"Cannot build a score graph as state {info.name!r} has no symbolic batch axis first"
            )
        rest = [d.dim_value if d.HasField("dim_value") else 0 for d in dims[1:]]
        shape = h + "empty_shape/" + info.name
        nodes.append(_const(shape + "/rest", i64, [len(rest)], rest))
        node("Concat", [h + "contexts1", shape + "/rest"], shape, axis=0)
        zero = helper.make_tensor(shape + "/zero", _elem_type(info), [1], [0])
        node("ConstantOfShape", [shape], ctx.body_name(info.name), value=zero)
    nodes.extend(ctx.body_nodes)
    last_logits = node("Gather", [ctx.body_name("logits"), h + "last"], h + "context_last_logits", axis=1)

    # Pass 2: every continuation row from a copy of its context's state.
    node("Identity", ["continuation_ids"], cont.body_name("input_ids"))
    owned_mask = node("Gather", ["context_mask", "owner"], h + "owned_context_mask", axis=0)
    node("Concat", [owned_mask, "continuation_mask"], cont.body_name("attention_mask"), axis=1)
    if cont.has_positions:
        positions(cont.body_name("attention_mask"), h + "context_len1", cont.body_name("position_ids"))
    token_constants(cont, 0, True)
    for info in cont.states:
        node("Gather", [ctx.body_name(present_name_for(info.name)), "owner"], cont.body_name(info.name), axis=0)
    nodes.extend(cont.body_nodes)

    # Log-probabilities of the targets: the context's last logits predict the first one.
    first = unsqueeze(node("Gather", [last_logits, "owner"], h + "owned_last_logits", axis=0), 1, h + "first_logits")
    scores = node("Concat", [first, cont.body_name("logits")], h + "target_logits", axis=1)
    if _elem_type(ctx.outputs["logits"]) != TensorProto.FLOAT:
        scores = node("Cast", [scores], h + "target_logits32", to=TensorProto.FLOAT)
    log_probs = node("LogSoftmax", [scores], h + "log_probs", axis=2)
    picked = node("GatherElements", [log_probs, unsqueeze("targets", 2, h + "target_index")], h + "picked", axis=2)
    squeeze(picked, 2, "logprobs")
    best = node("ArgMax", [scores], h + "best", axis=2, keepdims=0)
    node("Equal", [best, "targets"], "greedy")

    inputs = [
        helper.make_tensor_value_info("context_ids", ids_type, ["contexts", "context_length"]),
        helper.make_tensor_value_info("context_mask", mask_type, ["contexts", "context_length"]),
        helper.make_tensor_value_info("continuation_ids", ids_type, ["rows", "continuation_length"]),
        helper.make_tensor_value_info("continuation_mask", mask_type, ["rows", "continuation_length"]),
        helper.make_tensor_value_info("owner", i64, ["rows"]),
        helper.make_tensor_value_info("targets", i64, ["rows", "target_length"]),
    ]
    outputs = [
        helper.make_tensor_value_info("logprobs", TensorProto.FLOAT, ["rows", "target_length"]),
        helper.make_tensor_value_info("greedy", TensorProto.BOOL, ["rows", "target_length"]),
    ]
    graph = helper.make_graph(ctx.hoisted + nodes, "score", inputs, outputs)
    graph.doc_string = "Prefix-reuse scoring around the decoder graph " + (ctx.dec.name or "(unnamed)")
    return ctx.finish(graph, "kvbench score")
