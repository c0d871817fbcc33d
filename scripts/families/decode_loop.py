"""Wraps a kvbench decoder graph in an ONNX ``Loop`` that decodes greedily, so the state never
leaves onnxruntime between tokens.

The decoder (``input_ids``, ``attention_mask``, optional ``position_ids`` / ``num_logits_to_keep`` /
``use_cache_branch``, ``past*`` states → ``logits``, ``present*`` states) becomes the loop body.
The new graph takes the decoder's token and state inputs for *one* token per row plus
``max_new_tokens`` and returns

- ``tokens`` ``[max_new_tokens, batch]`` int64: ``tokens[0]`` is the argmax of the logits after the
  fed ``input_ids``, ``tokens[i]`` the argmax after feeding ``tokens[i - 1]``: exactly what a
  step-by-step greedy loop produces;
- every state under the decoder's ``present*`` name: the state after the last iteration, which
  holds the fed token and ``tokens[:-1]`` (``tokens[-1]`` is not fed yet), so a caller can go on.

Wiring. The decoder's initializers stay in the outer graph and the body refers to them by name
(ONNX lets a subgraph read outer-scope values), so no weight is stored twice and weights kept as
external data keep their file references. Every other decoder value is renamed with a prefix
inside the body, so none shadows an outer graph name: the outer inputs and outputs reuse the
decoder's own names, and a body value of the same name would be ambiguous (ONNX asks names to be
unique across nested graphs; onnx 1.12's checker does not catch it, so nothing relies on it).
Nodes that read only weights and constants (fp16 weights' widening Casts, Constants) move to the
outer graph and run once instead of once per token. Loop-carried:
the current token ``[B, 1]``, the attention mask (one column of ones longer each iteration), the
position ids (+1 each iteration) and every state (``present*`` of one iteration is ``past*`` of
the next). Scan output: the next token ``[B]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set

import onnx
from onnx import GraphProto, ModelProto, TensorProto, ValueInfoProto, helper
from onnx.external_data_helper import uses_external_data

BODY_PREFIX = "decode_step/"
"""Prefix of the decoder's values inside the loop body."""

HELPER_PREFIX = "decode_loop/"
"""Prefix of the values this module adds (body bookkeeping and the loop's unused final values)."""

TOKEN_INPUTS = ("input_ids", "attention_mask", "position_ids", "num_logits_to_keep", "use_cache_branch")
"""Decoder inputs that are not state, as kvbench's runner knows them (evals/model/state.ts)."""

NONDETERMINISTIC = ("RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
                    "Bernoulli")
"""Operators whose output may differ between runs: never hoisted out of the loop body."""

MIN_OPSET = 11  # Gather with a negative index, ArgMax/Concat as used here, Loop with varying shapes


class DecodeLoopError(ValueError):
    """The decoder cannot be wrapped; the message says why and what the graph should look like."""


def present_name_for(past_name: str) -> str:
    """The ``present*`` output paired with a ``past*`` input (same rule as evals/model/state.ts)."""
    if past_name.startswith("past_key_values"):
        return "present" + past_name[len("past_key_values"):]
    return "present" + past_name[len("past"):]


def _default_opset(model: ModelProto) -> int:
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx"):
            return op.version
    raise DecodeLoopError("Cannot wrap the decoder as it imports no default-domain (ai.onnx) opset")


def _elem_type(info: ValueInfoProto) -> int:
    return info.type.tensor_type.elem_type


def _subgraphs(node: onnx.NodeProto) -> Iterable[GraphProto]:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def _all_names(graph: GraphProto, into: Set[str]) -> Set[str]:
    """Every value name a graph and its nested subgraphs define or use."""
    for v in list(graph.input) + list(graph.output) + list(graph.value_info):
        into.add(v.name)
    for t in graph.initializer:
        into.add(t.name)
    for node in graph.node:
        into.update(n for n in list(node.input) + list(node.output) if n)
        for sub in _subgraphs(node):
            _all_names(sub, into)
    return into


def _rename_outer_refs(graph: GraphProto, mapping: Dict[str, str]) -> None:
    """Renames, inside a nested subgraph, the references to values of the enclosing graphs."""
    local: Set[str] = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in mapping and name not in local:
                node.input[i] = mapping[name]
        for sub in _subgraphs(node):
            # A name defined here is local to the nested subgraph too, so don't rename it there.
            _rename_outer_refs(sub, {k: v for k, v in mapping.items() if k not in local})
        local.update(n for n in node.output if n)
    for out in graph.output:
        if out.name in mapping and out.name not in local:
            out.name = mapping[out.name]


def _const(name: str, elem_type: int, dims: List[int], values: list) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], name=name, value=helper.make_tensor(name + "/value", elem_type, dims, values)
    )


def _value_info(name: str, like: ValueInfoProto) -> ValueInfoProto:
    info = ValueInfoProto()
    info.CopyFrom(like)
    info.name = name
    return info


class _Wrapped:
    """A decoder taken apart for a loop body: its checked interface, its nodes renamed for the
    body (``body_nodes``) and the weight-only nodes hoisted out of it (``hoisted``)."""

    def __init__(self, model: ModelProto, body_prefix: str = BODY_PREFIX, helper_prefix: str = HELPER_PREFIX,
                 reserved_names: Iterable[str] = ("max_new_tokens", "tokens", "chunk")) -> None:
        opset = _default_opset(model)
        if opset < MIN_OPSET:
            raise DecodeLoopError(
                f"Cannot wrap a decoder of opset {opset} in a decode loop: re-export it with opset {MIN_OPSET} or later"
            )
        dec = model.graph
        if dec.sparse_initializer:
            raise DecodeLoopError("Cannot wrap a decoder with sparse initializers: store them as dense initializers")
        weights = {t.name for t in dec.initializer}
        inputs = [i for i in dec.input if i.name not in weights]  # IR < 4 lists initializers as inputs too
        by_name = {i.name: i for i in inputs}
        outputs = {o.name: o for o in dec.output}
        for required in ("input_ids", "attention_mask"):
            if required not in by_name:
                raise DecodeLoopError(
                    f"Cannot wrap the decoder as it has no {required!r} input (inputs: {', '.join(by_name)})"
                )
        if "logits" not in outputs:
            raise DecodeLoopError(f"Cannot wrap the decoder as it has no 'logits' output (outputs: {', '.join(outputs)})")
        states: List[ValueInfoProto] = []
        for info in inputs:
            if info.name in TOKEN_INPUTS:
                continue
            if not info.name.startswith("past"):
                raise DecodeLoopError(
                    f"Cannot wrap the decoder as input {info.name!r} is neither a token input "
                    f"({', '.join(TOKEN_INPUTS)}) nor a past* state: the decode loop would not know what to feed it"
                )
            if present_name_for(info.name) not in outputs:
                raise DecodeLoopError(
                    f"Cannot pair state input {info.name!r} as the decoder has no output {present_name_for(info.name)!r}"
                )
            states.append(info)
        has_positions = "position_ids" in by_name

        # Prefix every decoder value but the weights, and name the added values, so that no new name
        # collides with an old one.
        taken = _all_names(dec, set())
        lead = ""
        while any(n.startswith(lead + body_prefix) or n.startswith(lead + helper_prefix) for n in taken):
            lead += "_"
        prefix, h = lead + body_prefix, lead + helper_prefix
        # Nodes that read only weights and constants (fp16 weights' widening Casts, Constants) give
        # the same values every iteration: they go to the outer graph, run once, and keep their names.
        reserved = set(by_name) | set(outputs) | set(reserved_names)
        invariant = set(weights)
        hoisted: List[onnx.NodeProto] = []
        stepped: List[onnx.NodeProto] = []
        for node in dec.node:  # ONNX keeps nodes in topological order
            if (node.domain in ("", "ai.onnx") and node.op_type not in NONDETERMINISTIC
                    and not any(True for _ in _subgraphs(node))
                    and all(not n or n in invariant for n in node.input)
                    and not any(n in reserved for n in node.output)):
                hoisted.append(node)
                invariant.update(n for n in node.output if n)
            else:
                stepped.append(node)
        mapping: Dict[str, str] = {}
        for info in inputs:
            mapping[info.name] = prefix + info.name
        for node in stepped:
            for name in node.output:
                if name:
                    mapping[name] = prefix + name

        def body_name(name: str) -> str:
            return mapping.get(name, name)

        body_nodes: List[onnx.NodeProto] = []
        for node in stepped:
            step = onnx.NodeProto()
            step.CopyFrom(node)
            for i, name in enumerate(step.input):
                step.input[i] = body_name(name)
            for i, name in enumerate(step.output):
                step.output[i] = body_name(name)
            if step.name:
                step.name = prefix + step.name
            for sub in _subgraphs(step):
                _rename_outer_refs(sub, mapping)
            body_nodes.append(step)
        self.model, self.dec, self.by_name, self.outputs, self.states = model, dec, by_name, outputs, states
        self.has_positions, self.hoisted, self.body_nodes = has_positions, hoisted, body_nodes
        self.body_name, self.h = body_name, h

    def finish(self, graph: GraphProto, producer: str) -> ModelProto:
        """The model around ``graph``, with the decoder's weights moved into it."""
        model, dec = self.model, self.dec
        out = ModelProto()
        out.ir_version = model.ir_version
        out.opset_import.extend(model.opset_import)
        out.functions.extend(model.functions)
        out.metadata_props.extend(model.metadata_props)
        out.producer_name = producer
        out.producer_version = model.producer_version
        out.domain = model.domain
        out.model_version = model.model_version
        out.doc_string = model.doc_string
        out.graph.CopyFrom(graph)
        # The weights move (external references kept as they are): dropped from the decoder once copied.
        out.graph.initializer.extend(dec.initializer)
        del dec.initializer[:]
        return out

    def carried_states(self, body_nodes: List[onnx.NodeProto], taken: Set[str]):
        """Loop-carried state names (body input, body output) and their types, in state order."""
        h, body_name = self.h, self.body_name
        computed = set(v for v in (n for node in self.body_nodes for n in node.output))
        ins, outs, types = [], [], []
        for info in self.states:
            present = body_name(present_name_for(info.name))
            if present in taken or present not in computed:
                # A state passed straight through, a weight, or one value returned twice: give the body
                # output a value of its own.
                copy = h + "carry/" + info.name
                body_nodes.append(helper.make_node("Identity", [present], [copy], name=copy))
                present = copy
            taken.add(present)
            ins.append(body_name(info.name))
            outs.append(present)
            types.append(info)
        return ins, outs, types

    def state_outputs(self) -> List[ValueInfoProto]:
        """The outer graph's final-state outputs, under the decoder's ``present*`` names."""
        result = []
        for info in self.states:
            # A fixed-size state (no symbolic axis but the batch) comes back in its input's shape, which
            # is often better known than what the exporter declared for the output.
            dims = info.type.tensor_type.shape.dim
            fixed = len(dims) > 0 and all(d.HasField("dim_value") for d in dims[1:])
            like = info if fixed else self.outputs[present_name_for(info.name)]
            result.append(_value_info(present_name_for(info.name), like))
        return result


def build_decode_loop(model: ModelProto) -> ModelProto:
    """Returns a model that runs ``model`` (a kvbench decoder) greedily in an ONNX ``Loop``.

    ``model`` is consumed: its initializers (inline or external references) move into the
    returned model's outer graph. See the module docstring for the inputs, outputs and wiring.

    Raises:
        DecodeLoopError: when the decoder lacks ``input_ids``, ``attention_mask`` or ``logits``,
            has an input that is neither a token input nor a ``past*`` state, a state without its
            ``present*`` output, or an opset below 11.
    """
    w = _Wrapped(model)
    by_name, outputs, states, h, body_name = w.by_name, w.outputs, w.states, w.h, w.body_name
    has_positions = w.has_positions
    body_nodes: List[onnx.NodeProto] = []
    if "num_logits_to_keep" in by_name:
        body_nodes.append(_const(body_name("num_logits_to_keep"), _elem_type(by_name["num_logits_to_keep"]), [], [1]))
    if "use_cache_branch" in by_name:
        # Every iteration runs with a past (the prompt is already in the state).
        rank = len(by_name["use_cache_branch"].type.tensor_type.shape.dim)
        body_nodes.append(_const(body_name("use_cache_branch"), TensorProto.BOOL, [1] * rank, [True]))
    body_nodes += w.body_nodes
    logits_type = _elem_type(outputs["logits"])
    ids_type = _elem_type(by_name["input_ids"])
    mask_type = _elem_type(by_name["attention_mask"])
    body_nodes += [
        _const(h + "last_index", TensorProto.INT64, [], [-1]),
        helper.make_node("Gather", [body_name("logits"), h + "last_index"], [h + "last_logits"], axis=1,
                         name=h + "last_logits"),
    ]
    scores = h + "last_logits"
    if logits_type != TensorProto.FLOAT:
        # A float16 → float32 cast is exact, so the argmax (and its ties) is that of the logits.
        body_nodes.append(helper.make_node("Cast", [scores], [h + "scores"], to=TensorProto.FLOAT, name=h + "scores"))
        scores = h + "scores"
    body_nodes += [
        helper.make_node("ArgMax", [scores], [h + "next"], axis=1, keepdims=0, name=h + "next"),  # [B], first on ties
        _const(h + "column", TensorProto.INT64, [2], [-1, 1]),
        helper.make_node("Reshape", [h + "next", h + "column"], [h + "next_ids64"], name=h + "next_ids64"),
    ]
    next_ids = h + "next_ids64"
    if ids_type != TensorProto.INT64:
        body_nodes.append(helper.make_node("Cast", [next_ids], [h + "next_ids"], to=ids_type, name=h + "next_ids"))
        next_ids = h + "next_ids"
    one_mask = helper.make_tensor(h + "one", mask_type, [1], [1])
    body_nodes += [
        helper.make_node("Shape", [next_ids], [h + "column_shape"], name=h + "column_shape"),
        helper.make_node("ConstantOfShape", [h + "column_shape"], [h + "ones"], value=one_mask, name=h + "ones"),
        helper.make_node("Concat", [body_name("attention_mask"), h + "ones"], [h + "next_mask"], axis=1,
                         name=h + "next_mask"),
        helper.make_node("Identity", [h + "cond_in"], [h + "cond_out"], name=h + "cond_out"),
    ]
    carried_in = [body_name("input_ids"), body_name("attention_mask")]
    carried_out = [next_ids, h + "next_mask"]
    carried_types = [by_name["input_ids"], by_name["attention_mask"]]
    if has_positions:
        pos_type = _elem_type(by_name["position_ids"])
        body_nodes += [
            _const(h + "one_position", pos_type, [], [1]),
            helper.make_node("Add", [body_name("position_ids"), h + "one_position"], [h + "next_positions"],
                             name=h + "next_positions"),
        ]
        carried_in.append(body_name("position_ids"))
        carried_out.append(h + "next_positions")
        carried_types.append(by_name["position_ids"])
    state_in, state_out, state_types = w.carried_states(body_nodes, set(carried_in) | set(carried_out))
    carried_in += state_in
    carried_out += state_out
    carried_types += state_types

    body_inputs = [
        helper.make_tensor_value_info(h + "iteration", TensorProto.INT64, []),
        helper.make_tensor_value_info(h + "cond_in", TensorProto.BOOL, []),
    ] + [_value_info(name, like) for name, like in zip(carried_in, carried_types)]
    # The body's inputs are declared as the decoder declares them (symbolic sequence axes); its
    # outputs by element type only, as loop-carried shapes change from one iteration to the next.
    body_outputs = [helper.make_tensor_value_info(h + "cond_out", TensorProto.BOOL, [])]
    body_outputs += [helper.make_tensor_value_info(name, _elem_type(like), None)
                     for name, like in zip(carried_out, carried_types)]
    body_outputs.append(helper.make_tensor_value_info(h + "next", TensorProto.INT64, None))
    body = helper.make_graph(body_nodes, "decode_step", body_inputs, body_outputs)

    # The outer graph: one token per row, the decoder's states, and the trip count.
    batch = by_name["input_ids"].type.tensor_type.shape.dim
    batch_dim = (batch[0].dim_param or batch[0].dim_value or "batch_size") if len(batch) > 0 else "batch_size"
    outer_inputs = [helper.make_tensor_value_info("input_ids", ids_type, [batch_dim, 1]),
                    _value_info("attention_mask", by_name["attention_mask"])]
    loop_inputs = ["max_new_tokens", "", "input_ids", "attention_mask"]
    loop_outputs = [h + "final_input_ids", h + "final_attention_mask"]
    if has_positions:
        outer_inputs.append(helper.make_tensor_value_info("position_ids", _elem_type(by_name["position_ids"]),
                                                          [batch_dim, 1]))
        loop_inputs.append("position_ids")
        loop_outputs.append(h + "final_position_ids")
    outer_outputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["max_new_tokens", batch_dim])]
    for info in states:
        outer_inputs.append(_value_info(info.name, info))
        loop_inputs.append(info.name)
        loop_outputs.append(present_name_for(info.name))
    outer_outputs += w.state_outputs()
    outer_inputs.append(helper.make_tensor_value_info("max_new_tokens", TensorProto.INT64, []))
    loop_outputs.append("tokens")
    loop = helper.make_node("Loop", loop_inputs, loop_outputs, body=body, name=h + "loop")
    graph = helper.make_graph(w.hoisted + [loop], "decode_loop", outer_inputs, outer_outputs)
    graph.doc_string = "Greedy decode loop around the decoder graph " + (w.dec.name or "(unnamed)")
    return w.finish(graph, "kvbench decode_loop")


def build_prefill_loop(model: ModelProto) -> ModelProto:
    """Returns a model that feeds a prompt to ``model`` (a kvbench decoder) in chunks inside an
    ONNX ``Loop``, so the state stays inside onnxruntime from one chunk to the next.

    Inputs: ``input_ids`` ``[B, T]`` with T a multiple of ``chunk`` (left-pad the prompt),
    ``attention_mask`` ``[B, P + T]`` over the state's P slots and the prompt, ``chunk`` (int64
    scalar) and the decoder's ``past*`` states. Outputs: ``logits`` ``[B, 1, V]`` after the prompt's
    last position, and the final states under the decoder's ``present*`` names. Chunk i feeds
    ``input_ids[:, i·chunk : (i+1)·chunk]`` with the mask's first ``P + (i+1)·chunk`` columns and
    positions counted from the mask (real tokens before it; 0 for leading padding), as
    ``Stream.prefill`` does one call at a time.
    """
    w = _Wrapped(model)
    by_name, h, body_name = w.by_name, w.h, w.body_name
    ids_type = _elem_type(by_name["input_ids"])
    mask_type = _elem_type(by_name["attention_mask"])
    i64 = TensorProto.INT64
    nodes: List[onnx.NodeProto] = []

    def node(op: str, inputs: List[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    # Bounds of chunk i, in prompt columns and in mask columns (past slots first).
    nodes.append(_const(h + "zero", i64, [1], [0]))
    nodes.append(_const(h + "axis1", i64, [1], [1]))
    nodes.append(_const(h + "flat", i64, [1], [1]))
    start = node("Mul", [h + "iteration", "chunk"], h + "start")
    end = node("Add", [start, "chunk"], h + "end")
    start1 = node("Reshape", [start, h + "flat"], h + "start1")
    end1 = node("Reshape", [end, h + "flat"], h + "end1")
    mask_start = node("Add", [start1, h + "past_len1"], h + "mask_start")
    mask_end = node("Add", [end1, h + "past_len1"], h + "mask_end")
    ids = node("Slice", ["input_ids", start1, end1, h + "axis1"], body_name("input_ids"))
    mask = node("Slice", ["attention_mask", h + "zero", mask_end, h + "axis1"], body_name("attention_mask"))
    if w.has_positions:
        counted = mask if mask_type == i64 else node("Cast", [mask], h + "mask64", to=i64)
        nodes.append(_const(h + "one64", i64, [], [1]))
        before = node("Sub", [node("CumSum", [counted, h + "axis1"], h + "counts"), h + "one64"], h + "before")
        nodes.append(_const(h + "zero64", i64, [], [0]))
        clipped = node("Max", [before, h + "zero64"], h + "positions_all")
        positions = node("Slice", [clipped, mask_start, mask_end, h + "axis1"], h + "positions64")
        pos_type = _elem_type(by_name["position_ids"])
        if pos_type == i64:
            nodes.append(helper.make_node("Identity", [positions], [body_name("position_ids")],
                                          name=body_name("position_ids")))
        else:
            node("Cast", [positions], body_name("position_ids"), to=pos_type)
    if "num_logits_to_keep" in by_name:
        nodes.append(_const(body_name("num_logits_to_keep"), _elem_type(by_name["num_logits_to_keep"]), [], [1]))
    if "use_cache_branch" in by_name:
        # Only the first chunk of a fresh stream runs without a past.
        rank = len(by_name["use_cache_branch"].type.tensor_type.shape.dim)
        has_past = node("Greater", [mask_start, h + "zero"], h + "has_past")
        shape = [1] * rank
        nodes.append(_const(h + "cache_branch_shape", i64, [len(shape)], shape))
        node("Reshape", [has_past, h + "cache_branch_shape"], body_name("use_cache_branch"))
    body_nodes = nodes + w.body_nodes
    body_nodes += [
        _const(h + "last_index", i64, [], [-1]),
        helper.make_node("Gather", [body_name("logits"), h + "last_index"], [h + "last_logits"], axis=1,
                         name=h + "last_logits"),
        helper.make_node("Identity", [h + "cond_in"], [h + "cond_out"], name=h + "cond_out"),
    ]
    state_in, state_out, state_types = w.carried_states(body_nodes, set())
    body_inputs = [
        helper.make_tensor_value_info(h + "iteration", i64, []),
        helper.make_tensor_value_info(h + "cond_in", TensorProto.BOOL, []),
    ] + [_value_info(name, like) for name, like in zip(state_in, state_types)]
    body_outputs = [helper.make_tensor_value_info(h + "cond_out", TensorProto.BOOL, [])]
    body_outputs += [helper.make_tensor_value_info(name, _elem_type(like), None)
                     for name, like in zip(state_out, state_types)]
    body_outputs.append(helper.make_tensor_value_info(h + "last_logits", _elem_type(w.outputs["logits"]), None))
    body = helper.make_graph(body_nodes, "prefill_step", body_inputs, body_outputs)

    batch = by_name["input_ids"].type.tensor_type.shape.dim
    batch_dim = (batch[0].dim_param or batch[0].dim_value or "batch_size") if len(batch) > 0 else "batch_size"
    outer_inputs = [helper.make_tensor_value_info("input_ids", ids_type, [batch_dim, "prompt_length"]),
                    _value_info("attention_mask", by_name["attention_mask"]),
                    helper.make_tensor_value_info("chunk", i64, [])]
    outer_inputs += [_value_info(info.name, info) for info in w.states]
    vocab = w.outputs["logits"].type.tensor_type.shape.dim[-1]
    outer_outputs = [helper.make_tensor_value_info("logits", _elem_type(w.outputs["logits"]),
                                                   [batch_dim, 1, vocab.dim_value or vocab.dim_param or "vocab"])]
    outer_outputs += w.state_outputs()
    outer = [
        _const(h + "dim1", i64, [1], [1]),
        helper.make_node("Shape", ["input_ids"], [h + "ids_shape"], name=h + "ids_shape"),
        helper.make_node("Gather", [h + "ids_shape", h + "dim1"], [h + "prompt_len1"], axis=0, name=h + "prompt_len1"),
        helper.make_node("Shape", ["attention_mask"], [h + "mask_shape"], name=h + "mask_shape"),
        helper.make_node("Gather", [h + "mask_shape", h + "dim1"], [h + "slots1"], axis=0, name=h + "slots1"),
        helper.make_node("Sub", [h + "slots1", h + "prompt_len1"], [h + "past_len1"], name=h + "past_len1"),
        helper.make_node("Div", [h + "prompt_len1", "chunk"], [h + "chunks1"], name=h + "chunks1"),
        _const(h + "scalar", i64, [0], []),
        helper.make_node("Reshape", [h + "chunks1", h + "scalar"], [h + "chunks"], name=h + "chunks"),
    ]
    loop_inputs = [h + "chunks", ""] + [info.name for info in w.states]
    loop_outputs = [present_name_for(info.name) for info in w.states] + [h + "chunk_logits"]
    outer.append(helper.make_node("Loop", loop_inputs, loop_outputs, body=body, name=h + "loop"))
    outer += [
        _const(h + "last_chunk", i64, [], [-1]),
        helper.make_node("Gather", [h + "chunk_logits", h + "last_chunk"], [h + "final_logits"], axis=0,
                         name=h + "final_logits"),
        # Unsqueeze took its axes as an attribute before opset 13.
        helper.make_node("Unsqueeze", [h + "final_logits", h + "dim1"], ["logits"], name=h + "logits")
        if _default_opset(w.model) >= 13 else
        helper.make_node("Unsqueeze", [h + "final_logits"], ["logits"], name=h + "logits", axes=[1]),
    ]
    graph = helper.make_graph(w.hoisted + outer, "prefill_loop", outer_inputs, outer_outputs)
    graph.doc_string = "Chunked prefill loop around the decoder graph " + (w.dec.name or "(unnamed)")
    return w.finish(graph, "kvbench prefill_loop")


FILE_NAMES = {"decode": "decode_loop.onnx", "prefill": "prefill_loop.onnx", "score": "score.onnx"}
"""Where each kind of wrapper graph is written beside the decoder, and where evals/ looks for it."""


def write_decode_loop(model_dir: Path, out: Optional[Path] = None, kind: str = "decode") -> str:
    """Writes the decode loop (``kind`` "decode"), the prefill loop ("prefill") or the score graph
    ("score", see ``families/score_graph.py``) of ``model_dir/model.onnx`` to ``out`` (default
    ``model_dir/`` + ``FILE_NAMES[kind]``), checks it, and returns a one-line summary.

    The decoder's weights are read as references only (``load_external_data=False``): inline
    weights stay inline, external data files are referenced where they are, so ``out`` must then
    sit in ``model_dir``.

    Raises:
        DecodeLoopError: when the decoder cannot be wrapped or ``out`` would break its external
            data references.
    """
    src = model_dir / "model.onnx"
    from .score_graph import build_score_graph  # it builds on this module

    builders = {"decode": build_decode_loop, "prefill": build_prefill_loop, "score": build_score_graph}
    if kind not in builders:
        raise DecodeLoopError(f"Cannot write a {kind!r} graph: use one of {', '.join(builders)}")
    out = out if out is not None else model_dir / FILE_NAMES[kind]
    decoder = onnx.load(str(src), load_external_data=False)
    external = sum(1 for t in decoder.graph.initializer if uses_external_data(t))
    if external and out.resolve().parent != src.resolve().parent:
        raise DecodeLoopError(
            f"the decoder keeps {external} weights in external data files, whose locations are relative to the "
            f"graph: write the loop into {model_dir}"
        )
    model = builders[kind](decoder)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    # The path form reads external data relative to the file and handles graphs past 2 GiB; the
    # full check adds strict shape inference over the outer graph and the loop body.
    try:
        onnx.checker.check_model(str(out), full_check=True)
        checked = "checker and shape inference passed"
    except onnx.shape_inference.InferenceError as error:
        onnx.checker.check_model(str(out))
        checked = f"checker passed; strict shape inference did not: {str(error).splitlines()[0]}"
    return f"wrote {out} ({out.stat().st_size:,} bytes; {external} external weights referenced; {checked})"
