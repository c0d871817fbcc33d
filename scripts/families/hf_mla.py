"""Loads a Hugging Face checkpoint of a model trained with MLA into ``deepseek.py``'s model, keeping its
compressed cache: ``model_type`` deepseek_v2 (V2-Lite, V2), deepseek_v3 (V3, R1, Moonlight) and
kimi_k2 (Kimi-K2, V3's layout),
minicpm3 (MiniCPM3: the same attention, dense MLPs, and three scalings of its own) and plm (PLM: a
plain q_proj, interleaved RoPE, dense ungated ReLU² MLPs, a tied head; its modeling code is not in
transformers, so the import follows llama.cpp's PLM graph, ``llm_build_plm``, which is public: the
latent's RMSNorm takes rms_norm_eps there, the attention scale is (d_nope + d_r)^-½).

What the import changes, each an exact rewrite of the same function:

- DeepSeek rotates its RoPE dims in interleaved pairs (2i, 2i+1) (V2 always, V3 unless
  ``rope_interleave`` is false); ``mla.py`` rotates pairs (i, i + d_r/2). The RoPE rows of the
  query and of ``kv_a_proj_with_mqa`` are permuted to match, so k_pe is cached in the permuted
  order: the same dot products.
- YaRN (and LongRoPE) multiply cos and sin by an attention factor, and YaRN the softmax scale by
  mscale(factor, mscale_all_dim)²: both are folded into the weights (the RoPE rows of the query
  and of kv_a by the factor, the whole query by mscale²), as RoPE and the scores are linear in them.
- MiniCPM3 multiplies the embeddings by ``scale_emb``, each residual branch by
  ``scale_depth / √layers`` and the final hidden state by ``dim_model_base / hidden_size``: folded
  into the embedding, ``o_proj`` and ``down_proj``, and the LM head (MiniCPM3 ties it to the
  unscaled embedding). Its RoPE is rotate-half already; LongRoPE is imported with its short
  factors, so only while ``max_position_embeddings`` stays within ``original_max_position_embeddings``
  (beyond it transformers switches to the long factors once a sequence passes that length, which
  a cache filled before the switch can't follow).

V3 routes by sigmoid scores with ``e_score_correction_bias`` (``noaux_tc``; ``moe.py``). FP8
checkpoints (``quantization_config.quant_method`` fp8: float8 E4M3 weights with a ``weight_scale_inv``
per ``weight_block_size`` block, 128 × 128 in V3) are dequantised on import, W = W8 · S[r // 128,
c // 128]. The multi-token-prediction layers past ``num_hidden_layers`` are not part of the model
evaluated (transformers drops them too) and are skipped.

Routed experts load from either layout: transformers' stacked ``mlp.experts.gate_up_proj`` /
``down_proj`` or DeepSeek's per-expert ``mlp.experts.{j}.{gate,up,down}_proj.weight``. The import is
strict, as ``hf_llama``'s: anything it would not compute the same way raises ``CheckpointError``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from . import deepseek
from .common import CausalLM, yarn_attention_factor, yarn_mscale
from .hf_llama import CheckpointError, IGNORED_SUFFIXES, rope_settings
from .moe import MoEConfig
from .safetensors_io import Checkpoint

MODEL_TYPES = ("deepseek_v2", "deepseek_v3", "kimi_k2", "minicpm3", "plm")
# Kimi-K2 is DeepSeek-V3's architecture under its own model_type (Moonshot's deployment notes say to
# rename it deepseek_v3 for frameworks that don't know it), so it reads as V3 here.
V3_LAYOUT = ("deepseek_v3", "kimi_k2")
YARN_KEYS = ("factor", "original_max_position_embeddings")


def _longrope(hf: dict, scaling: dict, problems: List[str]) -> Optional[dict]:
    """LongRoPE's short factors and attention factor, where the checkpoint never reaches its long ones."""
    original = scaling.get("original_max_position_embeddings") or hf.get("original_max_position_embeddings")
    if original is None or scaling.get("short_factor") is None:
        problems.append("longrope rope scaling lacks short_factor or original_max_position_embeddings")
        return None
    if hf["max_position_embeddings"] > original:
        problems.append(f"longrope beyond its original context ({hf['max_position_embeddings']} > {original} "
                        "positions) switches RoPE tables mid-sequence: not imported")
        return None
    factor = float(scaling.get("factor") or hf["max_position_embeddings"] / original)
    attention = scaling.get("attention_factor")
    if attention is None:
        attention = 1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(original))
    return {"rope_type": "longrope", "short_factor": list(scaling["short_factor"]), "factor": factor,
            "original_max_position_embeddings": original, "attention_factor": float(attention)}


def rope_attention_factor(scaling: Optional[dict]) -> float:
    """What the checkpoint's RoPE multiplies cos and sin by (1 without scaling)."""
    if not scaling:
        return 1.0
    if scaling["rope_type"] == "longrope":
        return scaling["attention_factor"]
    return yarn_attention_factor(scaling)


def _rope(hf: dict, problems: List[str]) -> Tuple[float, Optional[dict]]:
    """(rope_theta, rope_scaling) for the MLA layers: plain, YaRN or LongRoPE's short factors."""
    theta, scaling, kind = rope_settings(hf)
    if scaling is None:
        return theta, None
    if kind == "longrope":
        return theta, _longrope(hf, scaling, problems)
    if kind != "yarn":
        problems.append(f"rope scaling type {kind!r} (yarn and longrope are implemented)")
        return theta, None
    absent = [k for k in YARN_KEYS if scaling.get(k) is None]
    if absent:
        problems.append(f"yarn rope scaling lacks {', '.join(absent)}")
        return theta, None
    keep = ("factor", "original_max_position_embeddings", "beta_fast", "beta_slow", "mscale", "mscale_all_dim",
            "attention_factor", "truncate")
    return theta, {"rope_type": "yarn", **{k: scaling[k] for k in keep if scaling.get(k) is not None}}


def config_from_hf(hf: dict) -> deepseek.DeepSeekConfig:
    """Our config from config.json, or ``CheckpointError`` listing what we would compute differently."""
    problems: List[str] = []
    if hf.get("model_type") not in MODEL_TYPES:
        problems.append(f"model_type {hf.get('model_type')!r} (this importer reads {', '.join(MODEL_TYPES)})")
    plm = hf.get("model_type") == "plm"
    activation = "relu2" if plm else "silu"
    if hf.get("hidden_act", activation) != activation:
        problems.append(f"hidden_act {hf.get('hidden_act')!r} ({hf.get('model_type')}'s MLP uses {activation})")
    if plm and hf.get("q_lora_rank"):
        problems.append("q_lora_rank set (PLM has a plain q_proj)")
    for flag in ("attention_bias", "mlp_bias"):
        if hf.get(flag):
            problems.append(f"{flag} true (no biases)")
    v3 = hf.get("model_type") in V3_LAYOUT
    # transformers' V2 always scores by softmax and V3 by sigmoid with noaux_tc, whatever the config says.
    scoring, method = ("sigmoid", "noaux_tc") if v3 else ("softmax", hf.get("topk_method", "greedy"))
    if hf.get("scoring_func", scoring) != scoring:
        problems.append(f"scoring_func {hf.get('scoring_func')!r} ({hf.get('model_type')} routes by {scoring})")
    theta, scaling = _rope(hf, problems)
    if not v3 and method not in ("greedy", "group_limited_greedy"):
        problems.append(f"topk_method {method!r} (DeepSeek-V2 routes greedy or group_limited_greedy)")
    quant = hf.get("quantization_config")
    if quant and quant.get("quant_method") != "fp8":
        problems.append(f"quantization {quant.get('quant_method')!r} (fp8 block scaling is implemented)")
    if problems:
        raise CheckpointError("cannot import this checkpoint faithfully: " + "; ".join(problems))
    experts = hf.get("n_routed_experts")
    moe = None
    if experts:
        moe = MoEConfig(
            hidden_size=hf["hidden_size"], moe_intermediate_size=hf["moe_intermediate_size"],
            n_routed_experts=experts, n_shared_experts=hf.get("n_shared_experts") or 0,
            num_experts_per_tok=hf["num_experts_per_tok"], scoring_func=scoring, topk_method=method,
            n_group=hf.get("n_group") or 1, topk_group=hf.get("topk_group") or 1,
            # transformers' V2 router never normalises the chosen weights (its norm_topk_prob is unused).
            norm_topk_prob=bool(hf.get("norm_topk_prob", True)) if v3 else False,
            routed_scaling_factor=float(hf.get("routed_scaling_factor", 2.5 if v3 else 1.0)),
        )
    return deepseek.DeepSeekConfig(
        vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"], intermediate_size=hf["intermediate_size"],
        num_hidden_layers=hf["num_hidden_layers"], num_attention_heads=hf["num_attention_heads"],
        q_lora_rank=hf.get("q_lora_rank"), kv_lora_rank=hf["kv_lora_rank"],
        qk_nope_head_dim=hf["qk_nope_head_dim"], qk_rope_head_dim=hf["qk_rope_head_dim"],
        v_head_dim=hf.get("v_head_dim") or hf["hidden_size"] // hf["num_attention_heads"],  # MiniCPM3's default
        rope_theta=theta, rope_scaling=scaling,
        rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)), max_position_embeddings=hf["max_position_embeddings"],
        first_k_dense_replace=hf.get("first_k_dense_replace", 0) if moe is not None else hf["num_hidden_layers"],
        moe=moe, hidden_act=activation,
        # transformers builds the latent's norm with its default eps (1e-6); llama.cpp's PLM with the model's.
        latent_norm_eps=float(hf.get("rms_norm_eps", 1e-6)) if plm else 1e-6,
    )


def _interleaved_to_half(d: int) -> torch.Tensor:
    """Row order that turns interleaved RoPE pairs (2i, 2i+1) into rotate-half pairs (i, i + d/2)."""
    return torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)])


def _query_rows(w: torch.Tensor, cfg: deepseek.DeepSeekConfig, order: torch.Tensor, rope_scale: float,
                scale: float) -> torch.Tensor:
    """q_proj / q_b_proj rows [H·(d_nope + d_r), in] with each head's RoPE rows reordered and scaled."""
    h, nope, rope = cfg.num_attention_heads, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim
    w = w.reshape(h, nope + rope, -1).clone()
    w[:, nope:] = w[:, nope:][:, order] * rope_scale
    return (w * scale).reshape(h * (nope + rope), -1)


def _latent_rows(w: torch.Tensor, cfg: deepseek.DeepSeekConfig, order: torch.Tensor, rope_scale: float) -> torch.Tensor:
    """kv_a_proj_with_mqa rows [r_kv + d_r, in] with the RoPE rows reordered and scaled."""
    r = cfg.kv_lora_rank
    w = w.clone()
    w[r:] = w[r:][order] * rope_scale
    return w


def dequantize_fp8(weight: torch.Tensor, scale_inv: torch.Tensor, block: Tuple[int, int]) -> torch.Tensor:
    """W[r, c] = W8[r, c] · S[r // block_rows, c // block_cols] (``weight`` already widened to float32;
    the last blocks of a dimension that is no multiple of the block size are partial)."""
    rows, cols = weight.shape
    expanded = scale_inv.repeat_interleave(block[0], 0)[:rows].repeat_interleave(block[1], 1)[:, :cols]
    if expanded.shape != weight.shape:
        raise CheckpointError(f"a weight_scale_inv of shape {list(scale_inv.shape)} does not cover a weight of "
                              f"shape {[rows, cols]} in {block[0]} x {block[1]} blocks")
    return weight * expanded


def minicpm3_scales(hf: dict, cfg: deepseek.DeepSeekConfig) -> Tuple[float, float, float]:
    """(embedding, residual branch, final hidden state) multipliers: MiniCPM3's, else 1."""
    if hf.get("model_type") != "minicpm3":
        return 1.0, 1.0, 1.0
    depth = hf.get("scale_depth", 1.4)
    depth = math.sqrt(cfg.num_hidden_layers) if depth is None else float(depth)
    base = hf.get("dim_model_base", 256) or cfg.hidden_size
    return float(hf.get("scale_emb", 12)), depth / math.sqrt(cfg.num_hidden_layers), base / cfg.hidden_size


def load(directory: Path) -> Tuple[CausalLM, deepseek.DeepSeekConfig, dict]:
    """(model in float32, our config, the checkpoint's config.json) from a Hugging Face directory."""
    directory = Path(directory)
    hf = json.loads((directory / "config.json").read_text())
    cfg = config_from_hf(hf)
    model = deepseek.build(cfg)
    ckpt = Checkpoint(directory)
    layers = cfg.num_hidden_layers
    # Multi-token-prediction layers (model.layers.{L}…) are not evaluated; transformers drops them too.
    names = set(n for n in ckpt.names() if not n.endswith(IGNORED_SUFFIXES)
                and not (n.startswith("model.layers.") and int(n.split(".")[2]) >= layers))
    used: set = set()
    quant = hf.get("quantization_config") or {}
    block = tuple(quant.get("weight_block_size") or (128, 128))

    def take(name: str) -> torch.Tensor:
        if name not in names:
            raise CheckpointError(f"{directory} lacks tensor {name}")
        used.add(name)
        tensor = ckpt.get(name).to(torch.float32)
        scale = f"{name}_scale_inv"
        if scale in names:  # an FP8 block-quantised weight
            used.add(scale)
            tensor = dequantize_fp8(tensor, ckpt.get(scale).to(torch.float32), block)
        return tensor

    kind = hf.get("model_type")
    interleaved = kind in ("deepseek_v2", "plm") or (kind in V3_LAYOUT and hf.get("rope_interleave", True))
    order = _interleaved_to_half(cfg.qk_rope_head_dim) if interleaved else torch.arange(cfg.qk_rope_head_dim)
    rope_scale = rope_attention_factor(cfg.rope_scaling)
    scale = 1.0
    if cfg.rope_scaling and cfg.rope_scaling["rope_type"] == "yarn" and cfg.rope_scaling.get("mscale_all_dim"):
        scale = yarn_mscale(float(cfg.rope_scaling["factor"]), float(cfg.rope_scaling["mscale_all_dim"])) ** 2
    embed_scale, residual_scale, logits_scale = minicpm3_scales(hf, cfg)
    embedding = take("model.embed_tokens.weight")
    state: Dict[str, torch.Tensor] = {
        "embed_tokens.weight": embedding * embed_scale,
        "norm.weight": take("model.norm.weight"),
    }
    tied = bool(hf.get("tie_word_embeddings", kind in ("minicpm3", "plm"))) or "lm_head.weight" not in names
    state["lm_head.weight"] = (embedding if tied else take("lm_head.weight")) * logits_scale
    for i, layer in enumerate(model.layers):
        src, dst = f"model.layers.{i}", f"layers.{i}"
        for norm in ("input_layernorm", "post_attention_layernorm"):
            state[f"{dst}.{norm}.weight"] = take(f"{src}.{norm}.weight")
        attn, mix = f"{src}.self_attn", f"{dst}.mixer"
        if cfg.q_lora_rank is None:
            state[f"{mix}.q_proj.weight"] = _query_rows(take(f"{attn}.q_proj.weight"), cfg, order, rope_scale, scale)
        else:
            state[f"{mix}.q_a_proj.weight"] = take(f"{attn}.q_a_proj.weight")
            state[f"{mix}.q_a_layernorm.weight"] = take(f"{attn}.q_a_layernorm.weight")
            state[f"{mix}.q_b_proj.weight"] = _query_rows(take(f"{attn}.q_b_proj.weight"), cfg, order, rope_scale,
                                                            scale)
        state[f"{mix}.kv_a_proj_with_mqa.weight"] = _latent_rows(take(f"{attn}.kv_a_proj_with_mqa.weight"), cfg,
                                                                 order, rope_scale)
        for name in ("kv_a_layernorm.weight", "kv_b_proj.weight"):
            state[f"{mix}.{name}"] = take(f"{attn}.{name}")
        state[f"{mix}.o_proj.weight"] = take(f"{attn}.o_proj.weight") * residual_scale
        mlp, ours = f"{src}.mlp", f"{dst}.mlp"
        if i < cfg.first_k_dense_replace or cfg.moe is None:
            for p in ("up_proj",) if cfg.hidden_act == "relu2" else ("gate_proj", "up_proj"):
                state[f"{ours}.{p}.weight"] = take(f"{mlp}.{p}.weight")
            state[f"{ours}.down_proj.weight"] = take(f"{mlp}.down_proj.weight") * residual_scale
            continue
        state[f"{ours}.gate.weight"] = take(f"{mlp}.gate.weight")
        if cfg.moe.topk_method == "noaux_tc":
            state[f"{ours}.e_score_correction_bias"] = take(f"{mlp}.gate.e_score_correction_bias")
        for p in ("gate_proj", "up_proj", "down_proj"):
            state[f"{ours}.shared_experts.{p}.weight"] = take(f"{mlp}.shared_experts.{p}.weight")
        if f"{mlp}.experts.gate_up_proj" in names:
            state[f"{ours}.gate_up_proj"] = take(f"{mlp}.experts.gate_up_proj")
            state[f"{ours}.down_proj"] = take(f"{mlp}.experts.down_proj")
        else:
            experts = range(cfg.moe.n_routed_experts)
            state[f"{ours}.gate_up_proj"] = torch.stack([
                torch.cat([take(f"{mlp}.experts.{j}.gate_proj.weight"), take(f"{mlp}.experts.{j}.up_proj.weight")])
                for j in experts])
            state[f"{ours}.down_proj"] = torch.stack([take(f"{mlp}.experts.{j}.down_proj.weight") for j in experts])
    unused = sorted(names - used)
    if unused:
        shown = ", ".join(unused[:6]) + (f" and {len(unused) - 6} more" if len(unused) > 6 else "")
        raise CheckpointError(f"{directory} holds tensors this importer would not use: {shown}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"internal mapping error: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return model.eval(), cfg, hf
