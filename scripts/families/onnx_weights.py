"""Reads a llama or MLA model directory's weights back from its ONNX graph into the PyTorch modules
that exported it, for models whose weights live nowhere else (the MQAR zoo): the zoo's baseline as
the teacher of a later training run, an MLA model to export variants of (TPLA).

The TorchScript exporter keeps a parameter's name where an op reads it directly (embeddings, norms,
with ``_fp16`` appended by a float16 export) and names the node of a linear layer after its module
(``/model/layers.0/mixer/q_proj/MatMul``, reading the transposed weight). The absorbed MLA graph
reads ``kv_b_proj`` as two per-head constants: W_UK ``[H, d_nope, r]`` (the query's product) and
W_UVᵀ ``[H, r, d_v]`` (the output's), in that order. ``load`` checks that every parameter was found;
``max_logit_gap`` compares the rebuilt model's logits with the graph's (zoo_variant.py refuses a gap).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from . import llama
from .common import CausalLM
from .mla import MLAConfig, MLAttention


def build(config: dict) -> CausalLM:
    """The module tree of a llama or MLA family model (transmla, xecomla) from its config.json: an
    MLA layer where ``config["mla"]`` has an entry, GQA where it has none or there is no list."""
    fields = {f: config[f] for f in llama.LlamaConfig.__dataclass_fields__ if f in config}
    cfg = llama.LlamaConfig(**fields)
    layers = config.get("mla") or [None] * cfg.num_hidden_layers
    mixers: List[nn.Module] = [MLAttention(MLAConfig(**m)) if m else llama.GQAttention(cfg) for m in layers]
    return CausalLM(cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, mixers, cfg.rms_norm_eps)


def _node_path(module_path: str) -> str:
    """``layers.0.mixer.q_proj`` → ``/model/layers.0/mixer/q_proj`` (the exporter's scope names)."""
    parts: List[str] = []
    for p in module_path.split("."):
        if p.isdigit() and parts:
            parts[-1] += "." + p
        else:
            parts.append(p)
    return "/model/" + "/".join(parts)


@torch.no_grad()
def load(model: CausalLM, graph_path: Path) -> None:
    """Fills ``model``'s parameters from the ONNX graph at ``graph_path``.

    Raises:
        ValueError: when a parameter cannot be found in the graph.
    """
    graph = onnx.load(str(graph_path)).graph
    arrays: Dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i, base_dir=str(graph_path.parent))
                                     for i in graph.initializer}
    for node in graph.node:  # a float16 export widens each weight with a Cast
        if node.op_type == "Cast" and node.input[0] in arrays:
            arrays[node.output[0]] = arrays[node.input[0]]
    matmuls: Dict[str, List[np.ndarray]] = {}
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in arrays:
            scope = node.name.rsplit("/", 1)[0]
            matmuls.setdefault(scope, []).append(arrays[node.input[1]])
    missing = []
    for module_path, module in model.named_modules():
        if isinstance(module, nn.Linear) and module_path.split(".")[-1] != "kv_b_proj":
            found = matmuls.get(_node_path(module_path))
            if found is None or len(found) != 1:
                missing.append(module_path + ".weight")
                continue
            module.weight.copy_(torch.from_numpy(found[0].astype(np.float32)).T)
        elif isinstance(module, MLAttention):
            cfg = module.cfg
            constants = [a for a in matmuls.get(_node_path(module_path), []) if a.ndim == 3]
            if len(constants) != 2:
                missing.append(module_path + ".kv_b_proj.weight")
                continue
            w_uk, w_uv_t = (torch.from_numpy(a.astype(np.float32)) for a in constants)
            stacked = torch.cat([w_uk, w_uv_t.transpose(1, 2)], dim=1)  # [H, d_nope + d_v, r]
            module.kv_b_proj.weight.copy_(stacked.reshape(-1, cfg.kv_lora_rank))
    for name, param in model.named_parameters():
        if isinstance(_owner(model, name), nn.Linear):  # done above, kv_b_proj included
            continue
        stored = arrays.get(f"model.{name}_fp16", arrays.get(f"model.{name}"))
        if stored is None:
            missing.append(name)
            continue
        param.copy_(torch.from_numpy(stored.astype(np.float32)).reshape(param.shape))
    if missing:
        raise ValueError(f"cannot find {', '.join(missing)} in {graph_path}")


def _owner(model: nn.Module, parameter: str) -> nn.Module:
    module = model
    for part in parameter.split(".")[:-1]:
        module = getattr(module, part)
    return module


@torch.no_grad()
def max_logit_gap(model: CausalLM, graph_path: Path, vocab: int, seed: int = 0) -> float:
    """Largest |Δ logit| between ``model`` and the graph (onnxruntime, CPU) on 2 × 24 random ids."""
    import onnxruntime as ort

    ids = torch.randint(3, vocab, (2, 24), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    positions = torch.arange(24).unsqueeze(0).repeat(2, 1)
    ours, _ = model(ids, mask, positions, model.empty_states(2))
    session = ort.InferenceSession(str(graph_path), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy(), "position_ids": positions.numpy()}
    for i in session.get_inputs():
        if i.name == "num_logits_to_keep":
            feeds[i.name] = np.array(0, np.int64)
        elif i.name.startswith("past"):
            dims = [2 if n == 0 else 0 if isinstance(d, str) else d for n, d in enumerate(i.shape)]
            dtype = np.float16 if "float16" in i.type else np.float32
            feeds[i.name] = np.zeros(dims, dtype)
    theirs = session.run(["logits"], feeds)[0].astype(np.float32)
    return float(np.abs(ours.numpy() - theirs).max())
