"""Writes a model directory: ONNX graph with flat state tensors, sidecar, config, tokenizer."""

from __future__ import annotations

import inspect
import json
import tempfile
from pathlib import Path
from typing import List

import torch
from torch import nn

from . import fused, tokenizer
from .common import CausalLM, StateDecl, set_grouped_heads
from .fold_shapes import fold_shapes


DTYPES = {"float32": (torch.float32, 4), "float16": (torch.float16, 2)}


class FlatWrapper(nn.Module):
    """(input_ids, attention_mask, position_ids, num_logits_to_keep, *past) -> (logits, *present).

    With ``io_dtype`` float16 the states and logits cross the graph boundary in float16 while the
    arithmetic inside stays float32 (onnxruntime's CPU provider lacks float16 kernels for several
    of the ops used here; the cache's size is set by the dtype of the state tensors).
    """

    def __init__(self, model: CausalLM, io_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.model = model
        self.io_dtype = io_dtype

    def forward(self, input_ids, attention_mask, position_ids, num_logits_to_keep, *past):
        if self.io_dtype != torch.float32:
            past = tuple(p.to(torch.float32) for p in past)
        logits, present = self.model(input_ids, attention_mask, position_ids, list(past), num_logits_to_keep)
        if self.io_dtype != torch.float32:
            logits = logits.to(self.io_dtype)
            present = [p.to(self.io_dtype) for p in present]
        return (logits, *present)


PROTO_LIMIT = 2_000_000_000  # protobuf's 2 GiB cap, with room for the graph itself


def weights_to_float16(src: Path, dst: Path, external_above: int = PROTO_LIMIT, passes=()) -> None:
    """Writes ``src``'s graph to ``dst`` with its float32 weights stored as float16, each widened
    back by a Cast at load time.

    ``passes`` rewrite the graph after the conversion (see ``graph_passes``). Only tensors of 16 or
    more elements whose values fit float16 are converted, so scalar
    constants such as the mask's float32 minimum keep their exact value. When the weights pass
    ``external_above`` bytes they go to one ``<dst>.data`` file beside the graph (ONNX external data).
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnx.external_data_helper import uses_external_data

    # Weights torch wrote as external files are read one at a time, so the float32 copy of a large
    # model is never held in memory whole.
    model = onnx.load(str(src), load_external_data=False)
    if FOLD_SHAPES:
        fold_shapes(model)
    graph = model.graph
    keep, casts = [], []
    for init in graph.initializer:
        external = uses_external_data(init)
        arr = numpy_helper.to_array(init, base_dir=str(src.parent))
        if init.data_type != TensorProto.FLOAT or arr.size < 16 or not np.all(np.abs(arr) <= 65504.0):
            keep.append(numpy_helper.from_array(arr, init.name) if external else init)
            continue
        half = numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16")
        del arr
        keep.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "_widen"))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    # After the conversion, so that what a pass adds (DMA's widened gate) keeps its float32 values.
    for rewrite in passes:
        rewrite(model, str(src.parent))
    # onnx appends to an existing data file: a re-export into the same folder would grow it.
    (dst.parent / (dst.name + ".data")).unlink(missing_ok=True)
    if sum(len(i.raw_data) for i in graph.initializer) > external_above:
        onnx.save_model(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=dst.name + ".data", size_threshold=1024)
        onnx.checker.check_model(str(dst))
    else:
        onnx.checker.check_model(model)
        onnx.save(model, str(dst))


def _axes(decl: StateDecl, present: bool) -> dict:
    axes = {}
    for i, d in enumerate(decl.shape):
        if d == "batch_size":
            axes[i] = "batch_size"
        elif isinstance(d, str):
            axes[i] = "total_sequence_length" if present else "past_sequence_length"
    return axes


FOLD_SHAPES = True
"""Whether exports fold their shape arithmetic (``fold_shapes.fold_shapes``): fewer host-side nodes
per call, the same arithmetic on the data."""

GROUPED_HEADS = False
"""Whether exports multiply grouped query heads as rows of one product (``common.set_grouped_heads``)
unless told otherwise; the scripts' ``--grouped-heads`` flag sets it for a run. Off: the per-head
form measured faster on an H200 (docs/BENCHMARKS.md)."""


def graph_passes(model: nn.Module) -> list:
    """The graph rewrites the model's layers ask for (a ``rewrite_onnx`` attribute: a function of a
    ``ModelProto``, edited in place, and the directory its external weights are read from), each
    once, in the order the layers come."""
    found = []
    for m in model.modules():
        rewrite = getattr(type(m), "rewrite_onnx", None)
        if rewrite is not None and rewrite not in found:
            found.append(rewrite)
    return found


GRAPHS = ("traced", "fused", "static")
"""How an export's graph is made: traced from the PyTorch module (every family), built from the
weights out of ONNX Runtime's fused operators (``fused.py``; families whose layers have a fused form),
or built so with a static cache written in place (``fused.py``'s ``cache="static"``; GQA and narrow MLA
models), with its scoring graph beside it."""


SCORE_GRAPH = "score.onnx"
"""A static export's scoring graph: the dynamic fused form of the same weights in the static form's
state layout, which takes a chunk after a past for many rows (GroupQueryAttention takes one row),
reading the static buffers as its past. kvbench runs continuations to score through it (sidecar
``score_graph``)."""


def export_onnx(model: CausalLM, path: Path, opset: int = 14, dtype: str = "float32", graph: str = "traced",
                max_positions: int = 0) -> None:
    """Traces with distinct batch/past/sequence sizes so no axis is mistaken for a constant, or with
    ``graph`` "fused" builds the graph from the weights (``max_positions`` sizes its RoPE tables).

    ``dtype`` float16 gives float16 weights, states and logits (see ``FlatWrapper``); a fused graph
    also computes in float16.
    ``GROUPED_HEADS`` picks the attention products traced; the model is left as it was, so
    reference cases computed from it afterwards use its own (per-head) setting.
    """
    if graph in ("fused", "static"):
        if max_positions < 1:
            raise ValueError("a fused graph needs max_positions (its RoPE tables' length)")
        static = graph == "static"
        # A static graph's scoring graph reads the same weights from the one data file both graphs
        # point at (kvbench loads them once for both sessions).
        fused.save(fused.build(model, dtype, max_positions, "static" if static else "dynamic"), path,
                   **({"external_above": 0} if static else {}))
        (path.parent / SCORE_GRAPH).unlink(missing_ok=True)
        if static:
            fused.save_beside(fused.build(model, dtype, max_positions, "score"), path.parent / SCORE_GRAPH, path)
        return
    if graph != "traced":
        raise ValueError(f"unknown graph {graph!r}: one of {', '.join(GRAPHS)}")
    before = {m: m.grouped_heads for m in model.modules() if hasattr(type(m), "grouped_heads")}
    set_grouped_heads(model, GROUPED_HEADS)
    try:
        _export_onnx(model, path, opset, dtype)
    finally:
        for m, on in before.items():
            m.grouped_heads = on


def _export_onnx(model: CausalLM, path: Path, opset: int, dtype: str) -> None:
    io_dtype = DTYPES[dtype][0]
    decls = model.state_decls()
    batch, past_len, seq = 2, 3, 4
    input_ids = torch.randint(3, 100, (batch, seq), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(batch, past_len + seq, dtype=torch.int64)
    positions = torch.arange(past_len, past_len + seq).unsqueeze(0).repeat(batch, 1)
    past = []
    for d in decls:
        dims = [batch if x == "batch_size" else past_len if isinstance(x, str) else x for x in d.shape]
        past.append(torch.randn(dims, generator=torch.Generator().manual_seed(1)).to(io_dtype))
    names_in = ["input_ids", "attention_mask", "position_ids", "num_logits_to_keep"] + [d.past for d in decls]
    names_out = ["logits"] + [d.present for d in decls]
    dynamic = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "logits_length"},
    }
    for d in decls:
        dynamic[d.past] = _axes(d, False)
        dynamic[d.present] = _axes(d, True)
    # torch >= 2.9 exports through dynamo by default; these flat-tensor wrappers are written for
    # the TorchScript exporter (the only one torch 1.13 has).
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}

    def trace(target: Path) -> None:
        torch.onnx.export(
            FlatWrapper(model, io_dtype).eval(),
            (input_ids, mask, positions, torch.tensor(0, dtype=torch.int64), *past),
            str(target),
            input_names=names_in,
            output_names=names_out,
            dynamic_axes=dynamic,
            opset_version=opset,
            do_constant_folding=True,
            **legacy,
        )

    passes = graph_passes(model)
    if dtype == "float32":
        trace(path)
        if FOLD_SHAPES or passes:
            import onnx

            graph = onnx.load(str(path), load_external_data=False)  # weights stay in their files
            if FOLD_SHAPES:
                fold_shapes(graph)
            for rewrite in passes:
                rewrite(graph, str(path.parent))
            onnx.save(graph, str(path))
        return
    # A graph over 2 GiB comes out of torch as one file per weight: keep those in a scratch
    # directory and write only the converted graph (and its one data file) to ``path``.
    with tempfile.TemporaryDirectory() as tmp:
        trace(Path(tmp) / "model.onnx")
        weights_to_float16(Path(tmp) / "model.onnx", path, passes=passes)


def cache_bytes(decls: List[StateDecl], bytes_per_element: int):
    """(growing bytes per token, fixed bytes per sequence) from the declared shapes."""
    per_token = 0
    fixed = 0
    for d in decls:
        n = 1
        for x in d.shape:
            if not isinstance(x, str):
                n *= x
        if d.growing:
            per_token += n * bytes_per_element
        else:
            fixed += n * bytes_per_element
    return per_token, fixed


def write_model_dir(
    out: Path,
    model: CausalLM,
    family: str,
    name: str,
    config: dict,
    layers: list,
    formula: str,
    seed: int,
    dtype: str = "float32",
    teacher: str | None = None,
    graph: str = "traced",
) -> None:
    """``teacher``: the name of the model this one was converted or distilled from, if any (the
    report measures its compression against it). ``graph``: see ``GRAPHS``."""
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out / "model.onnx", dtype=dtype, graph=graph, max_positions=config["max_position_embeddings"])
    if graph == "traced" and GROUPED_HEADS and any(hasattr(type(m), "grouped_heads") for m in model.modules()):
        # Rebuilding the same graph from config.json needs to know which products were traced.
        config = dict(config, grouped_heads=True)
    per_token, fixed = cache_bytes(model.state_decls(), DTYPES[dtype][1])
    sidecar = {
        "format": 1,
        "family": family,
        "name": name,
        **({"teacher": teacher} if teacher else {}),
        "dtype": dtype,
        # A fused graph computes in its dtype; a traced float16 one widens to float32 (FlatWrapper).
        # key_length_multiple: ONNX Runtime's CUDA Attention takes its memory-efficient kernel with a
        # mask only for key lengths that are multiples of 4 (see OnnxModel.keyLengthMultiple).
        **({"graph": "fused", "matmul_dtype": dtype, "key_length_multiple": 4} if graph == "fused" else {}),
        **({"graph": "static", "matmul_dtype": dtype} if graph == "static" else {}),
        **({"score_graph": SCORE_GRAPH} if graph == "static" and (out / SCORE_GRAPH).exists() else {}),
        "vocab_size": config["vocab_size"],
        "max_length": config["max_position_embeddings"],
        "layers": layers,
        "cache": {"bytes_per_token_formula": formula, "bytes_per_token": per_token, "fixed_state_bytes": fixed},
        "seed": seed,
    }
    (out / "kvbench.json").write_text(json.dumps(sidecar, indent=1) + "\n")
    (out / "config.json").write_text(json.dumps(dict(config, family=family, seed=seed), indent=1) + "\n")
    tokenizer.write(out, config["vocab_size"], config["max_position_embeddings"])
