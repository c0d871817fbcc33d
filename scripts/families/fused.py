"""Builds a decoder's ONNX graph directly from its weights, out of ONNX Runtime's fused operators.

The traced export (``export.export_onnx``) records every elementwise step PyTorch takes: a Llama
step is ~1,000 nodes, each a kernel launch on CUDA, with attention as MatMul + Softmax over a
float32 [heads, chunk, context] score tensor. This builder writes the same computation, under the
same graph contract (inputs ``input_ids``, ``attention_mask``, ``position_ids``,
``num_logits_to_keep`` and the past states; outputs ``logits`` and the present states), as
~14 nodes a layer, all in the graph's dtype:

- ``SkipSimplifiedLayerNormalization`` (com.microsoft): RMSNorm fused with the residual add that
  precedes it (the first layer's, with no residual yet, is ONNX's ``RMSNormalization``); both
  accumulate in float32;
- one ``MatMul`` for q, k and v together, one for gate and up together;
- ``RotaryEmbedding`` (com.microsoft) with cos/sin tables precomputed in float32;
- ``Attention`` (ONNX opset 23): grouped-query heads, the past concatenated inside the op, and one
  additive mask shared by every layer (causal, padding, left or right); MLA layers attend in the
  absorbed form, every head against one shared key head [c_kv; k_pe] with c_kv as the value;
- SiLU as ``Sigmoid`` and ``Mul``; DeepSeekMoE as its routing (``TopK``, ``ScatterElements``) and
  every expert as one batched product over stacked weights (``moe.py``).

``cache="static"`` builds the other contract, for models whose every mixer is GQA: a preallocated
cache written in place. ``GroupQueryAttention`` (com.microsoft) takes the past as a buffer of
``max_sequence_length`` slots per row and writes the new keys and values into the same buffer (the
engine binds one tensor as both past and present), each row filled from slot 0 to its own length
(right padding), with RoPE inside the op. Inputs ``input_ids``, ``seqlens_k`` (int32 [B]: each
row's tokens after this call, minus 1, counting the whole padded chunk), ``total_sequence_length``
(int32 scalar: the longest row's), ``logits_index`` (int64 [B, K]: the chunk positions whose logits
are wanted) and the buffers; no mask, no positions (a row's position is its slot). MLA layers attend
absorbed there too, as one key head of width d_rope + r_kv: their cache is one buffer ``[k_pe; c_kv]``
(``past_key_values.{i}.latent``) that GroupQueryAttention reads as the key and as the value (the output's
c_kv part is the absorbed attention's), so the op's value output is a second graph output
(``present.{i}.latent.shared``) that the engine binds to the same buffer.

A mixer that can be built this way has a ``fused(g, layer, h, ctx, past, present)`` method (or a
``fused`` attribute of None where its configuration has no fused form), an MLP a ``fused(g, x, name)``
method (SwiGLU, PLM's ReLU², DeepSeekMoE); ``supports`` says whether a whole model can. The numbers
are those of the traced graph up to summation order in float32
(the tests hold both to the same PyTorch reference); in float16 every tensor is float16, as in the
Hugging Face model run in half precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .common import CausalLM, RMSNorm

OPSET = 23  # ONNX's Attention operator
CACHES = ("dynamic", "static", "score")
"""A fused graph's cache: past in, past + chunk out (``dynamic``, every family with a fused form), a
preallocated buffer written in place (``static``, GQA and narrow MLA models; ``supports_static``), or
past in and past + chunk out in the static form's layout (``score``: a static export's scoring graph,
which reads the static buffers as its past; MLA keeps [k_pe; c_kv] in one state there too)."""
MS = "com.microsoft"
TYPES = {"float32": (1, np.float32), "float16": (10, np.float16)}  # ONNX TensorProto codes
INT64_MAX = np.iinfo(np.int64).max
FAMILIES = ("llama", "transmla", "xecomla", "deepseek_v2", "deepseek_v3", "kimi_k2", "minicpm3", "plm")
"""The families (for models trained with MLA, the checkpoint's model_type) whose every layer has a
fused form (TPLA's sliced MLA aside): for scripts that refuse a fused export before building
anything; ``supports`` is the check on a built model."""
STATIC_FAMILIES = ("llama", "xecomla")
"""The families whose every layer is GQA or MLA with a narrow enough latent (X-EcoMLA's r_kv + d_r of
160 or 96), so a static cache can serve them; ``supports_static`` is the check on a built model (it
refuses TransMLA's and DeepSeek's 576)."""


class GraphBuilder:
    """Nodes, weights and value names of one graph in one float dtype."""

    def __init__(self, dtype: str):
        if dtype not in TYPES:
            raise ValueError(f"fused graphs are float32 or float16, not {dtype!r}")
        self.dtype = dtype
        self.elem, self.np_dtype = TYPES[dtype]
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def weight(self, name: str, value, float_dtype: bool = True) -> str:
        """Adds an initializer; float tensors are stored in the graph's dtype unless told not to."""
        from onnx import numpy_helper

        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        if float_dtype and arr.dtype.kind == "f":
            arr = arr.astype(self.np_dtype)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def const(self, hint: str, value, dtype=np.int64) -> str:
        return self.weight(self.name(hint), np.asarray(value, dtype=dtype), float_dtype=False)

    def op(self, op_type: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1,
           domain: str = "", **attrs) -> List[str]:
        """Adds a node; returns its output names (fresh ones unless given)."""
        from onnx import helper

        if isinstance(outputs, int):
            outputs = [self.name(f"{op_type}") for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs), name=self.name(f"/{op_type}"),
                                           domain=domain or None, **attrs))
        return list(outputs)

    def op1(self, op_type: str, inputs: Sequence[str], domain: str = "", **attrs) -> str:
        return self.op(op_type, inputs, 1, domain, **attrs)[0]


@dataclass
class FusedContext:
    """Values every layer reads: positions and the shared attention mask (a dynamic cache) or the
    rows' lengths (a static one), and the RoPE tables."""

    g: GraphBuilder
    positions: str
    mask: str  # additive [B, 1, S, T]; "" with a static cache
    max_positions: int
    seqlens_k: str = ""  # a static cache's int32 [B] and scalar total: GroupQueryAttention's inputs
    total_length: str = ""
    static_layout: bool = False  # states laid out as a static cache's (a static graph, or its scoring graph)
    shared: List[Tuple[str, str]] = field(default_factory=list)  # (output, state) a static cache binds twice
    _rope: Dict[bytes, Tuple[str, str]] = field(default_factory=dict)

    @property
    def static(self) -> bool:
        return bool(self.seqlens_k)

    def position_ids(self) -> str:
        """Each token's position [B, S]. A static cache has no such input: a row's chunk starts at its
        length before the call, seqlens_k + 1 - S, and every padded chunk is S long, so token t is at
        seqlens_k + 1 - (S - t), S - t being a reversed running count of ones. Built without Shape
        nodes: those run on the CPU, and their copies would keep ONNX Runtime from capturing the
        step as a CUDA graph."""
        if not self.positions:
            g = self.g
            ones = g.op1("Add", [g.op1("Mul", ["input_ids", g.const("zero64", 0)]), g.const("one64", 1)])
            remaining = g.op1("CumSum", [ones, g.const("axis1_scalar", 1)], reverse=1)
            length = g.op1("Add", [g.op1("Cast", [self.seqlens_k], to=7), g.const("one", [1])])
            self.positions = g.op1("Sub", [g.op1("Unsqueeze", [length, g.const("axis1", [1])]), remaining])
        return self.positions

    def share(self, present: str) -> str:
        """A second graph output for the state ``present``, which the engine binds to the same buffer
        (GroupQueryAttention's value output when one buffer is both key and value)."""
        name = f"{present}.shared"
        self.shared.append((name, present))
        return name

    def rope_tables(self, inv_freq: torch.Tensor) -> Tuple[str, str]:
        """cos/sin [max_positions, pairs] of rotate-half RoPE at these inverse frequencies, computed
        as the PyTorch layers compute theirs (float32 products, then cos and sin)."""
        key = inv_freq.to(torch.float32).numpy().tobytes()
        if key not in self._rope:
            freqs = torch.arange(self.max_positions, dtype=torch.float32).unsqueeze(-1) * inv_freq.to(torch.float32)
            n = len(self._rope)
            self._rope[key] = (self.g.weight(f"rope{n}.cos", freqs.cos()), self.g.weight(f"rope{n}.sin", freqs.sin()))
        return self._rope[key]

    def rope(self, x: str, inv_freq: torch.Tensor) -> str:
        """``x`` ([B, S, heads·d] or [B, heads, S, d]) rotated at the context's positions."""
        cos, sin = self.rope_tables(inv_freq)
        return self.g.op1("RotaryEmbedding", [x, self.position_ids(), cos, sin], domain=MS, interleaved=0)


def supports(model: CausalLM) -> bool:
    """Whether every layer of ``model`` has a fused form: its mixer and its MLP a ``fused`` method,
    its norms the standard ones."""
    return all(
        callable(getattr(layer.mixer, "fused", None)) and callable(getattr(layer.mlp, "fused", None))
        and isinstance(layer.input_layernorm, RMSNorm) and isinstance(layer.post_attention_layernorm, RMSNorm)
        for layer in model.layers
    )


def supports_static(model: CausalLM) -> bool:
    """Whether ``model`` can be built with a static cache: fused throughout, every mixer one whose
    ``fused`` method takes ``ctx.static`` and whose ``fused_static`` is true (GroupQueryAttention takes
    its heads: GQA, or MLA's absorbed key head, with a size that is a multiple of 16, at most 256)."""
    return supports(model) and all(getattr(layer.mixer, "fused_static", False) for layer in model.layers)


def state_decls(model: CausalLM, static: bool) -> List[List]:
    """Each layer's state declarations in the graph: its mixer's ``static_states`` in a static cache's
    layout (MLA keeps [k_pe; c_kv] in one buffer there), its ``states`` otherwise."""
    return [layer.mixer.static_states(i) if static else layer.mixer.states(i) for i, layer in enumerate(model.layers)]


def attention_mask(g: GraphBuilder, attention_mask: str, input_ids: str) -> str:
    """The additive mask [B, 1, S, T] in the graph's dtype, 0 where query slot i (the chunk fills the
    last S of T slots) sees key slot j — j <= i and j holds a real token — and the dtype's lowest
    value elsewhere. A query always sees its own slot, so a padding query attends to something (its
    output is never read) instead of to nothing, which some kernels turn into NaN. Additive rather
    than boolean because every layer's Attention would convert a boolean mask to this on CUDA."""
    total = g.op1("Shape", [attention_mask], start=1, end=2)
    seq = g.op1("Shape", [input_ids], start=1, end=2)
    zero, one = g.const("zero", 0), g.const("one", 1)
    total_s = g.op1("Squeeze", [total])
    first = g.op1("Squeeze", [g.op1("Sub", [total, seq])])
    q_slots = g.op1("Unsqueeze", [g.op1("Range", [first, total_s, one]), g.const("axis1", [1])])  # [S, 1]
    k_slots = g.op1("Range", [zero, total_s, one])  # [T]
    causal = g.op1("LessOrEqual", [k_slots, q_slots])  # [S, T]
    own = g.op1("Equal", [k_slots, q_slots])
    real = g.op1("Unsqueeze", [g.op1("Cast", [attention_mask], to=9), g.const("axes12", [1, 2])])  # [B,1,1,T]
    visible = g.op1("And", [causal, g.op1("Or", [real, own])])
    lowest = g.weight(g.name("lowest"), np.array(np.finfo(g.np_dtype).min, dtype=g.np_dtype))
    return g.op1("Where", [visible, g.weight(g.name("zero"), np.zeros((), g.np_dtype)), lowest])


def rms_norm(g: GraphBuilder, x: str, norm: RMSNorm, name: str, skip: Optional[str] = None) -> Tuple[str, str]:
    """(normalised, residual sum): with ``skip``, normalises ``x + skip`` and returns the sum too."""
    w = g.weight(f"{name}.weight", norm.weight)
    if skip is None:
        return g.op1("RMSNormalization", [x, w], axis=-1, epsilon=norm.eps), x
    out, total = g.name("normed"), g.name("residual")
    g.op("SkipSimplifiedLayerNormalization", [x, skip, w], [out, "", "", total], domain=MS, epsilon=norm.eps)
    return out, total


def matmul(g: GraphBuilder, x: str, linears: Sequence[nn.Linear], name: str) -> List[str]:
    """``x`` through several bias-free linear layers as one product, split back into their outputs."""
    weight = torch.cat([lin.weight for lin in linears], dim=0).t()
    y = g.op1("MatMul", [x, g.weight(f"{name}.weight", weight)])
    if len(linears) == 1:
        return [y]
    sizes = g.const("split", [lin.out_features for lin in linears])
    return g.op("Split", [y, sizes], len(linears), axis=-1)


@torch.no_grad()
def build(model: CausalLM, dtype: str, max_positions: int, cache: str = "dynamic"):
    """The fused ``onnx.ModelProto`` of ``model`` (weights inside it; see ``save``) with a ``cache``
    of ``CACHES``."""
    from onnx import TensorProto, helper

    if not supports(model):
        raise ValueError("this model has layers without a fused form (GQA, MLA and DeepSeekMoE have one; "
                         "Mamba2, DMA's dynamic mask and TPLA's sliced latent don't): export it traced")
    if cache not in CACHES:
        raise ValueError(f"unknown cache {cache!r}: one of {', '.join(CACHES)}")
    static = cache == "static"
    static_layout = cache in ("static", "score")
    if static_layout and not supports_static(model):
        raise ValueError("a static cache needs every layer to be GQA or MLA with a head size (MLA: r_kv + d_rope) "
                         "that is a multiple of 16 and at most 256 (GroupQueryAttention): build this model with "
                         "the dynamic cache")
    g = GraphBuilder(dtype)
    layer_decls = state_decls(model, static_layout)
    decls = [d for ds in layer_decls for d in ds]

    def dims(decl, present: bool):
        length = "max_sequence_length" if static else "total_sequence_length" if present else "past_sequence_length"
        return [d if not isinstance(d, str) else "batch_size" if d == "batch_size" else length for d in decl.shape]

    i64, i32 = TensorProto.INT64, TensorProto.INT32
    inputs = [helper.make_tensor_value_info("input_ids", i64, ["batch_size", "sequence_length"])]
    if static:
        inputs += [
            helper.make_tensor_value_info("seqlens_k", i32, ["batch_size"]),
            helper.make_tensor_value_info("total_sequence_length", i32, []),
            helper.make_tensor_value_info("logits_index", i64, ["batch_size", "logits_length"]),
        ]
    else:
        inputs += [
            helper.make_tensor_value_info("attention_mask", i64, ["batch_size", "total_sequence_length"]),
            helper.make_tensor_value_info("position_ids", i64, ["batch_size", "sequence_length"]),
            helper.make_tensor_value_info("num_logits_to_keep", i64, []),
        ]
    inputs += [helper.make_tensor_value_info(d.past, g.elem, dims(d, False)) for d in decls]
    outputs = [helper.make_tensor_value_info("logits", g.elem, ["batch_size", "logits_length", model.lm_head.out_features])]
    outputs += [helper.make_tensor_value_info(d.present, g.elem, dims(d, True)) for d in decls]

    if static:
        ctx = FusedContext(g, "", "", max_positions, seqlens_k="seqlens_k", total_length="total_sequence_length",
                           static_layout=True)
    else:
        ctx = FusedContext(g, "position_ids", attention_mask(g, "attention_mask", "input_ids"), max_positions,
                           static_layout=static_layout)
    x = g.op1("Gather", [g.weight("embed_tokens.weight", model.embed_tokens.weight), "input_ids"])
    residual: Optional[str] = None
    for i, layer in enumerate(model.layers):
        h, residual = rms_norm(g, x, layer.input_layernorm, f"layers.{i}.input_layernorm", residual)
        past = [d.past for d in layer_decls[i]]
        present = [d.present for d in layer_decls[i]]
        y = layer.mixer.fused(g, i, h, ctx, past, present)
        h, residual = rms_norm(g, y, layer.post_attention_layernorm, f"layers.{i}.post_attention_layernorm", residual)
        x = layer.mlp.fused(g, h, f"layers.{i}.mlp")
    h, _ = rms_norm(g, x, model.norm, "norm", residual)

    if static:
        # Each row's own positions: its last real token sits at a different place in a right-padded chunk.
        index = g.op1("Unsqueeze", ["logits_index", g.const("axis2", [2])])
        h = g.op1("GatherND", [h, index], batch_dims=1)
    else:
        # The last num_logits_to_keep positions (all when 0), as the traced graph's logits_to_keep.
        seq = g.op1("Shape", [h], start=1, end=2)
        keep = g.op1("Unsqueeze", ["num_logits_to_keep", g.const("axis0", [0])])
        start = g.op1("Where", [g.op1("Greater", [keep, g.const("zero1", [0])]), g.op1("Sub", [seq, keep]),
                                g.const("zero1", [0])])
        h = g.op1("Slice", [h, start, g.const("end", [INT64_MAX]), g.const("axis1s", [1])])
    g.op("MatMul", [h, g.weight("lm_head.weight", model.lm_head.weight.t())], ["logits"])

    by_present = {d.present: d for d in decls}
    outputs += [helper.make_tensor_value_info(name, g.elem, dims(by_present[state], True)) for name, state in ctx.shared]
    graph = helper.make_graph(g.nodes, "kvbench-fused", inputs, outputs, initializer=g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS, 1)],
                              producer_name="kvbench fused graph builder")
    proto.ir_version = 10
    return proto


def save(proto, path: Path, external_above: int = 2_000_000_000) -> None:
    """Writes the graph, its weights in one ``<name>.data`` file beside it once they pass
    ``external_above`` bytes (protobuf's 2 GiB cap). The graph is checked where this onnx knows
    opset 23 (1.18 and later); an older one (Debian's 1.12) writes it unchecked, and ONNX Runtime
    checks it when it loads."""
    import onnx

    check = onnx.defs.onnx_opset_version() >= OPSET
    data = path.parent / (path.name + ".data")
    # onnx appends to an existing data file: a re-export into the same folder would grow it.
    data.unlink(missing_ok=True)
    if sum(len(i.raw_data) for i in proto.graph.initializer) > external_above:
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data", size_threshold=1024)
        if check:
            onnx.checker.check_model(str(path))
    else:
        if check:
            onnx.checker.check_model(proto)
        onnx.save(proto, str(path))


def save_beside(proto, path: Path, graph: Path) -> None:
    """Writes ``proto`` to ``path`` with every weight that ``graph`` (a graph saved in the same
    directory) keeps in its external data file with the same bytes read from that file, not copied
    (a static export's scoring graph: one copy of the weights on disk). Weights ``graph`` holds
    inside itself stay inside ``proto`` too (small models)."""
    import onnx

    saved = onnx.load(str(graph), load_external_data=False)
    external = {i.name: i for i in saved.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL}
    for init in proto.graph.initializer:
        ref = external.get(init.name)
        if ref is None or ref.data_type != init.data_type or list(ref.dims) != list(init.dims):
            continue
        where = {e.key: e.value for e in ref.external_data}
        with open(graph.parent / where["location"], "rb") as f:
            f.seek(int(where.get("offset", 0)))
            if f.read(int(where["length"])) != init.raw_data:
                continue
        init.ClearField("raw_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        init.external_data.extend(ref.external_data)
    onnx.save(proto, str(path))
    if onnx.defs.onnx_opset_version() >= OPSET:  # see save
        onnx.checker.check_model(str(path))
