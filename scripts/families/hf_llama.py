"""Loads a Hugging Face Llama checkpoint (config.json + safetensors) into kvbench's ``llama`` module.

This is what lets a user's own trained model, not only a random-weight one, enter the families'
conversions and the ONNX export. The import is strict: a checkpoint whose architecture differs
from what ``llama.GQAttention`` computes (biases, another activation, another RoPE scaling, a
tensor we would not load, a tensor we lack) raises ``CheckpointError`` naming the difference,
because a silently different model would give plausible-looking but wrong benchmark numbers.

Supported: ``LlamaForCausalLM`` with SiLU MLPs, no biases, grouped-query attention, an explicit or
derived ``head_dim``, tied or untied LM head, plain RoPE or Llama 3's ``rope_scaling``
(``rope_type: llama3``; Llama 3.1/3.2/3.3). Hugging Face checkpoints already store q/k in the
rotate-half layout that ``common.apply_rope`` uses, so weights are copied unpermuted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from . import llama
from .common import CausalLM
from .safetensors_io import Checkpoint

LLAMA3_KEYS = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
# Older checkpoints saved RoPE's inverse frequencies as a buffer; they are recomputed, not loaded.
IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


class CheckpointError(ValueError):
    """A checkpoint kvbench cannot import faithfully; the message says what differs."""


def rope_settings(hf: dict) -> Tuple[float, Optional[dict], Optional[str]]:
    """(rope_theta, the scaling dict, its kind) from either the classic keys (``rope_theta``,
    ``rope_scaling``) or transformers 5's ``rope_parameters``; no dict where the RoPE is plain."""
    params = hf.get("rope_parameters")
    if isinstance(params, dict):
        theta, scaling = params.get("rope_theta", hf.get("rope_theta", 10000.0)), params
    else:
        theta, scaling = hf.get("rope_theta", 10000.0), hf.get("rope_scaling")
    kind = None if scaling is None else scaling.get("rope_type", scaling.get("type"))
    if scaling is None or kind == "default":
        return float(theta), None, "default"
    return float(theta), scaling, kind


def _rope(hf: dict, problems: List[str]) -> Tuple[float, Optional[dict]]:
    """(rope_theta, rope_scaling) for kvbench's llama: plain or Llama 3's scaling."""
    theta, scaling, kind = rope_settings(hf)
    if scaling is None:
        return theta, None
    if kind != "llama3":
        problems.append(f"rope_scaling type {kind!r} (only 'llama3' is implemented)")
        return theta, None
    absent = [k for k in LLAMA3_KEYS if k not in scaling]
    if absent:
        problems.append(f"llama3 rope_scaling lacks {', '.join(absent)}")
        return theta, None
    out = {"rope_type": "llama3", **{k: scaling[k] for k in LLAMA3_KEYS}}
    if not float(out["low_freq_factor"]) < float(out["high_freq_factor"]):
        problems.append("llama3 rope_scaling needs low_freq_factor < high_freq_factor")
    return theta, out


def config_from_hf(hf: dict) -> Tuple[llama.LlamaConfig, bool]:
    """(LlamaConfig, tie_word_embeddings) from a Hugging Face ``config.json`` dict.

    Defaults for absent keys are those of transformers' ``LlamaConfig``.
    """
    problems: List[str] = []
    model_type = hf.get("model_type", "llama")
    if model_type != "llama":
        problems.append(f"model_type {model_type!r} (expected 'llama')")
    archs = hf.get("architectures") or ["LlamaForCausalLM"]
    if archs != ["LlamaForCausalLM"]:
        problems.append(f"architectures {archs} (expected ['LlamaForCausalLM'])")
    if hf.get("hidden_act", "silu") != "silu":
        problems.append(f"hidden_act {hf['hidden_act']!r} (kvbench's MLP is SwiGLU with SiLU)")
    for key in ("attention_bias", "mlp_bias"):
        if hf.get(key):
            problems.append(f"{key} true (kvbench's llama has no biases)")
    required = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"]
    absent = [k for k in required if k not in hf]
    if absent:
        raise CheckpointError(f"config.json lacks {', '.join(absent)}")
    heads = int(hf["num_attention_heads"])
    kv = int(hf.get("num_key_value_heads") or heads)
    if heads % kv:
        problems.append(f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}")
    head_dim = hf.get("head_dim")
    if head_dim is None:
        if hf["hidden_size"] % heads:
            problems.append(f"hidden_size {hf['hidden_size']} is not a multiple of num_attention_heads "
                            f"{heads} and config.json gives no head_dim")
        head_dim = hf["hidden_size"] // heads
    if int(head_dim) % 2:
        problems.append(f"head_dim {head_dim} is odd (RoPE rotates pairs)")
    theta, scaling = _rope(hf, problems)
    if problems:
        raise CheckpointError("cannot import this checkpoint as a Llama: " + "; ".join(problems))
    cfg = llama.LlamaConfig(
        vocab_size=int(hf["vocab_size"]),
        hidden_size=int(hf["hidden_size"]),
        intermediate_size=int(hf["intermediate_size"]),
        num_hidden_layers=int(hf["num_hidden_layers"]),
        num_attention_heads=heads,
        num_key_value_heads=kv,
        head_dim=int(head_dim),
        rope_theta=theta,
        rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        max_position_embeddings=int(hf.get("max_position_embeddings", 2048)),
    )
    if scaling is not None:
        cfg.rope_scaling = scaling
    return cfg, bool(hf.get("tie_word_embeddings", False))


def weight_names(num_layers: int, tied: bool) -> Dict[str, str]:
    """Our parameter name -> the checkpoint's tensor name (a tied LM head reads the embedding)."""
    names = {
        "embed_tokens.weight": "model.embed_tokens.weight",
        "norm.weight": "model.norm.weight",
        "lm_head.weight": "model.embed_tokens.weight" if tied else "lm_head.weight",
    }
    for i in range(num_layers):
        ours, theirs = f"layers.{i}", f"model.layers.{i}"
        for p in ("q", "k", "v", "o"):
            names[f"{ours}.mixer.{p}_proj.weight"] = f"{theirs}.self_attn.{p}_proj.weight"
        for p in ("gate", "up", "down"):
            names[f"{ours}.mlp.{p}_proj.weight"] = f"{theirs}.mlp.{p}_proj.weight"
        for norm in ("input_layernorm", "post_attention_layernorm"):
            names[f"{ours}.{norm}.weight"] = f"{theirs}.{norm}.weight"
    return names


def _listing(names, limit: int = 6) -> str:
    names = sorted(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


@torch.no_grad()
def load(directory: Path) -> Tuple[CausalLM, llama.LlamaConfig, dict]:
    """(model in eval mode, its LlamaConfig, the checkpoint's config.json) from an HF directory."""
    directory = Path(directory)
    if not (directory / "config.json").exists():
        raise CheckpointError(f"{directory} has no config.json")
    hf = json.loads((directory / "config.json").read_text())
    cfg, tied = config_from_hf(hf)
    ckpt = Checkpoint(directory)
    mapping = weight_names(cfg.num_hidden_layers, tied)
    available = set(ckpt.names())
    wanted = set(mapping.values())
    biases = [n for n in available if n.endswith(".bias")]
    if biases:
        raise CheckpointError(f"{directory} holds bias tensors ({_listing(biases)}); "
                              "kvbench's llama has none")
    missing = wanted - available
    if missing:
        untied_head = "lm_head.weight" in missing
        raise CheckpointError(f"{directory} lacks {_listing(missing)}"
                              + (" (config.json says tie_word_embeddings is false)" if untied_head else ""))
    unexpected = available - wanted - {n for n in available if n.endswith(IGNORED_SUFFIXES)}
    spare_head = tied and "lm_head.weight" in unexpected  # some tied checkpoints also store the copy
    if spare_head:
        unexpected.discard("lm_head.weight")
    if unexpected:
        raise CheckpointError(f"{directory} holds tensors kvbench would not load: {_listing(unexpected)} "
                              f"(is num_hidden_layers {cfg.num_hidden_layers} right?)")

    model = llama.build(cfg)
    params = dict(model.named_parameters())
    assert set(params) == set(mapping), "llama.build's parameter names changed; update weight_names"
    for ours, theirs in sorted(mapping.items()):
        tensor = ckpt.get(theirs)
        if list(tensor.shape) != list(params[ours].shape):
            raise CheckpointError(f"{theirs} has shape {list(tensor.shape)}; config.json implies "
                                  f"{list(params[ours].shape)}")
        params[ours].copy_(tensor)
        del tensor
    if spare_head and not torch.equal(ckpt.get("lm_head.weight"), params["embed_tokens.weight"]):
        raise CheckpointError(f"{directory}: tie_word_embeddings is true but lm_head.weight differs from "
                              "model.embed_tokens.weight")
    return model.eval(), cfg, hf
