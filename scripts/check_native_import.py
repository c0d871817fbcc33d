#!/usr/bin/env python3
"""Self-check of importing checkpoints of models trained with MLA, without transformers: exits non-zero
on a failure.

    /usr/bin/python3 scripts/check_native_import.py

CI runs it (Debian's torch); ``scripts/check_native_mla.py`` is the check against transformers itself,
run by hand. Here tiny random checkpoints are written in Hugging Face's names and DeepSeek's own
conventions — interleaved RoPE pairs, YaRN's cos/sin factor and mscale² applied at run time,
per-expert MoE weights, FP8 blocks, MiniCPM3's scalings, PLM's ReLU² MLPs — and a forward pass
written here from the papers' formulas (for PLM, from llama.cpp's ``llm_build_plm``), independently
of ``families/``, computes their logits. ``families.hf_mla.load``
must give the same logits within 1e-4: a slip in the permutation, a folded factor or a name shows.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Dict

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families import hf_mla  # noqa: E402
from families.reference import positions_for  # noqa: E402
from families.safetensors_io import e4m3_bits_to_float32, float32_to_e4m3_bits, save_file  # noqa: E402

TOLERANCE = 1e-4
H, HEADS, NOPE, ROPE, V, RANK, VOCAB, LAYERS = 64, 4, 8, 8, 12, 16, 256, 3
YARN = {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64, "beta_fast": 32.0,
        "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.707}
failures = 0


def check(name: str, delta: float) -> None:
    global failures
    ok = delta <= TOLERANCE
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max |Δlogit| vs the reference written here {delta:.3g} (limit {TOLERANCE})")


def mscale(factor: float, m: float) -> float:
    return 1.0 if factor <= 1 else 0.1 * m * math.log(factor) + 1.0


def yarn(dim: int) -> tuple:
    """(inv_freq, cos/sin factor) of YaRN, from the paper's formulas (arXiv 2309.00071, section 3)."""
    base, factor, context = 10000.0, YARN["factor"], YARN["original_max_position_embeddings"]
    wavelength_dim = [(dim * math.log(context / (r * 2 * math.pi))) / (2 * math.log(base)) for r in (32.0, 1.0)]
    low, high = max(math.floor(wavelength_dim[0]), 0), min(math.ceil(wavelength_dim[1]), dim - 1)
    freqs = []
    for i in range(dim // 2):
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        original = base ** (-2 * i / dim)
        freqs.append(original * (1 - ramp) + original / factor * ramp)
    return torch.tensor(freqs), mscale(factor, YARN["mscale"]) / mscale(factor, YARN["mscale_all_dim"])


def rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """RoPE on the last axis: pairs (2i, 2i+1) when interleaved (DeepSeek), else (i, i + d/2)."""
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def reference(w: Dict[str, torch.Tensor], ids: torch.Tensor, kind: str, routing: str) -> torch.Tensor:
    """Logits [T, vocab] of one sequence, the expanded (per-head K/V) attention of the papers."""
    t = ids.shape[0]
    if kind == "minicpm3":  # LongRoPE's short factors
        inv_freq, factor = 1.0 / (torch.tensor([1.0, 1.5, 2.0, 2.5]) * 10000.0 ** (torch.arange(0, ROPE, 2) / ROPE)), 1.0
    elif kind == "plm":  # plain RoPE
        inv_freq, factor = 1.0 / 10000.0 ** (torch.arange(0, ROPE, 2) / ROPE), 1.0
    else:
        inv_freq, factor = yarn(ROPE)
    angles = torch.arange(t, dtype=torch.float32)[:, None] * inv_freq[None]
    cos, sin = angles.cos() * factor, angles.sin() * factor
    yarned = kind not in ("minicpm3", "plm")
    scale = (NOPE + ROPE) ** -0.5 * (mscale(YARN["factor"], YARN["mscale_all_dim"]) ** 2 if yarned else 1)
    embed_scale, residual, logits_scale = (12.0, 1.4 / math.sqrt(LAYERS), 16 / H) if kind == "minicpm3" else (1, 1, 1)
    eps = 1e-5 if kind == "plm" else 1e-6  # PLM's config below; llama.cpp normalises the latent with it too
    x = w["model.embed_tokens.weight"][ids] * embed_scale
    causal = torch.full((t, t), float("-inf")).triu(1)
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        h = rms(x, w[p + "input_layernorm.weight"], eps)
        if kind == "plm":
            q = h @ w[p + "self_attn.q_proj.weight"].T
        else:
            q = rms(h @ w[p + "self_attn.q_a_proj.weight"].T, w[p + "self_attn.q_a_layernorm.weight"], 1e-6)
            q = q @ w[p + "self_attn.q_b_proj.weight"].T
        q = q.view(t, HEADS, NOPE + ROPE).transpose(0, 1)
        kv = h @ w[p + "self_attn.kv_a_proj_with_mqa.weight"].T
        latent = rms(kv[:, :RANK], w[p + "self_attn.kv_a_layernorm.weight"], eps)
        interleaved = kind != "minicpm3" and kind != "v3-half"
        k_pe = rotate(kv[:, RANK:], cos, sin, interleaved)  # [T, d_r], every head's
        q_pe = rotate(q[..., NOPE:], cos, sin, interleaved)
        up = (latent @ w[p + "self_attn.kv_b_proj.weight"].T).view(t, HEADS, NOPE + V).transpose(0, 1)
        scores = (q[..., :NOPE] @ up[..., :NOPE].transpose(1, 2) + q_pe @ k_pe.T) * scale + causal
        out = (scores.softmax(-1) @ up[..., NOPE:]).transpose(0, 1).reshape(t, HEADS * V)
        x = x + out @ w[p + "self_attn.o_proj.weight"].T * residual
        h = rms(x, w[p + "post_attention_layernorm.weight"], eps)

        def swiglu(prefix: str, y: torch.Tensor) -> torch.Tensor:
            gate, upp = y @ w[prefix + "gate_proj.weight"].T, y @ w[prefix + "up_proj.weight"].T
            return (torch.nn.functional.silu(gate) * upp) @ w[prefix + "down_proj.weight"].T

        if kind == "plm":  # ungated ReLU², every layer
            x = x + torch.relu(h @ w[p + "mlp.up_proj.weight"].T).square() @ w[p + "mlp.down_proj.weight"].T
            continue
        if i == 0 or kind == "minicpm3":
            x = x + swiglu(p + "mlp.", h) * residual
            continue
        logits = h @ w[p + "mlp.gate.weight"].T
        if routing == "softmax":  # V2, greedy
            s = logits.softmax(-1)
            chosen = s.topk(2, dim=-1).indices
            weight = s.gather(-1, chosen)
        else:  # V3: sigmoid, chosen on the biased scores in 2 groups of 2 (keep 1), weights normalised
            s = logits.sigmoid()
            biased = s + w[p + "mlp.gate.e_score_correction_bias"]
            groups = biased.view(t, 2, 2).topk(2, dim=-1).values.sum(-1)
            keep = groups.argmax(-1)
            masked = biased.view(t, 2, 2).clone()
            masked[torch.arange(t), 1 - keep] = float("-inf")
            chosen = masked.view(t, 4).topk(2, dim=-1).indices
            weight = s.gather(-1, chosen)
            weight = weight / weight.sum(-1, keepdim=True) * 2.5
        routed = torch.zeros_like(h)
        for token in range(t):
            for slot in range(2):
                j = int(chosen[token, slot])
                routed[token] += weight[token, slot] * swiglu(f"{p}mlp.experts.{j}.", h[token])
        x = x + routed + swiglu(p + "mlp.shared_experts.", h)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])  # MiniCPM3 ties it to the embedding
    return rms(x, w["model.norm.weight"], eps) * logits_scale @ head.T


def random_weights(kind: str, g: torch.Generator) -> Dict[str, torch.Tensor]:
    def lin(out: int, inp: int) -> torch.Tensor:
        return torch.randn(out, inp, generator=g) / math.sqrt(inp)

    def norm(n: int) -> torch.Tensor:
        return 1 + 0.1 * torch.randn(n, generator=g)

    w = {"model.embed_tokens.weight": torch.randn(VOCAB, H, generator=g), "model.norm.weight": norm(H)}
    tied = kind in ("minicpm3", "plm")
    w["lm_head.weight"] = w["model.embed_tokens.weight"] if tied else lin(VOCAB, H)
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w.update({p + "input_layernorm.weight": norm(H), p + "post_attention_layernorm.weight": norm(H),
                  p + "self_attn.kv_a_proj_with_mqa.weight": lin(RANK + ROPE, H),
                  p + "self_attn.kv_a_layernorm.weight": norm(RANK),
                  p + "self_attn.kv_b_proj.weight": lin(HEADS * (NOPE + V), RANK),
                  p + "self_attn.o_proj.weight": lin(H, HEADS * V)})
        if kind == "plm":
            w.update({p + "self_attn.q_proj.weight": lin(HEADS * (NOPE + ROPE), H),
                      p + "mlp.up_proj.weight": lin(96, H), p + "mlp.down_proj.weight": lin(H, 96)})
            continue
        w.update({p + "self_attn.q_a_proj.weight": lin(32, H), p + "self_attn.q_a_layernorm.weight": norm(32),
                  p + "self_attn.q_b_proj.weight": lin(HEADS * (NOPE + ROPE), 32)})
        experts = [f"{p}mlp."] if i == 0 or kind == "minicpm3" else (
            [f"{p}mlp.experts.{j}." for j in range(4)] + [f"{p}mlp.shared_experts."])
        for e in experts:
            width = 96 if e == f"{p}mlp." else 24
            w.update({e + "gate_proj.weight": lin(width, H), e + "up_proj.weight": lin(width, H),
                      e + "down_proj.weight": lin(H, width)})
        if i > 0 and kind != "minicpm3":
            w[p + "mlp.gate.weight"] = lin(4, H)
            if kind != "v2":
                w[p + "mlp.gate.e_score_correction_bias"] = 0.3 * torch.randn(4, generator=g)
    if tied:
        del w["lm_head.weight"]
    return w


def to_fp8(w: Dict[str, torch.Tensor], block: int) -> tuple:
    """Every layer's projection as E4M3 with per-block scales; the weights rounded as stored."""
    tensors, dtypes, rounded = {}, {}, dict(w)
    for name, x in w.items():
        if not (name.startswith("model.layers.") and name.endswith("_proj.weight")):
            tensors[name] = x
            continue
        rows, cols = x.shape
        scale = torch.zeros(-(-rows // block), -(-cols // block))
        for r in range(scale.shape[0]):
            for c in range(scale.shape[1]):
                scale[r, c] = x[r * block:(r + 1) * block, c * block:(c + 1) * block].abs().max() / 448
        full = scale.repeat_interleave(block, 0)[:rows].repeat_interleave(block, 1)[:, :cols]
        bits = float32_to_e4m3_bits((x / full).numpy())
        tensors[name], dtypes[name] = x / full, "F8_E4M3"
        tensors[name + "_scale_inv"] = scale
        rounded[name] = torch.from_numpy(e4m3_bits_to_float32(bits)) * full
    return tensors, dtypes, rounded


def config(kind: str, fp8_block: int = 0) -> dict:
    base = {"vocab_size": VOCAB, "hidden_size": H, "intermediate_size": 96, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "q_lora_rank": 32, "kv_lora_rank": RANK, "qk_nope_head_dim": NOPE,
            "qk_rope_head_dim": ROPE, "v_head_dim": V, "max_position_embeddings": 512, "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0}
    if kind == "plm":
        return dict(base, model_type="plm", q_lora_rank=None, hidden_act="relu2", rms_norm_eps=1e-5,
                    tie_word_embeddings=True)
    if kind == "minicpm3":
        return dict(base, model_type="minicpm3", tie_word_embeddings=True, scale_emb=12, scale_depth=1.4,
                    dim_model_base=16, rope_scaling={"rope_type": "longrope", "short_factor": [1.0, 1.5, 2.0, 2.5],
                                                     "long_factor": [4.0] * 4, "original_max_position_embeddings": 512})
    moe = {"n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 2, "moe_intermediate_size": 24,
           "first_k_dense_replace": 1, "rope_scaling": YARN, "tie_word_embeddings": False}
    if kind == "v2":
        return dict(base, model_type="deepseek_v2", topk_method="greedy", **moe)
    out = dict(base, model_type="kimi_k2" if kind == "kimi_k2" else "deepseek_v3", n_group=2, topk_group=1, norm_topk_prob=True,
               routed_scaling_factor=2.5, rope_interleave=kind != "v3-half", **moe)
    if fp8_block:
        out["quantization_config"] = {"quant_method": "fp8", "weight_block_size": [fp8_block, fp8_block]}
    return out


def check_e4m3() -> None:
    """The float8 decoder against values the OCP FP8 spec fixes (E4M3FN: bias 7, no infinities)."""
    global failures
    import numpy as np

    spec = {0x00: 0.0, 0x01: 2.0 ** -9, 0x07: 7 * 2.0 ** -9, 0x08: 2.0 ** -6, 0x38: 1.0, 0x39: 1.125, 0x7E: 448.0,
            0xB8: -1.0, 0xFE: -448.0}
    got = e4m3_bits_to_float32(np.array(list(spec), dtype=np.uint8))
    ok = np.array_equal(got, np.array(list(spec.values()), dtype=np.float32))
    nan = bool(np.isnan(e4m3_bits_to_float32(np.array([0x7F, 0xFF], dtype=np.uint8))).all())
    failures += not (ok and nan)
    print(f"{'ok  ' if ok and nan else 'FAIL'} float8 E4M3 decoding: the spec's values and NaNs ({got.tolist()})")


def main() -> None:
    torch.set_num_threads(1)
    check_e4m3()
    ids = torch.randint(3, VOCAB, (96,), generator=torch.Generator().manual_seed(1))
    cases = [("v2", "deepseek_v2: interleaved RoPE, YaRN, greedy softmax MoE", 0),
             ("v3", "deepseek_v3: sigmoid noaux_tc MoE with the correction bias", 0),
             ("v3-half", "deepseek_v3 with rope_interleave false", 0),
             ("v3", "deepseek_v3 as FP8 E4M3 in 16 x 16 blocks", 16),
             ("kimi_k2", "kimi_k2: DeepSeek-V3's layout under its own model_type", 0),
             ("minicpm3", "minicpm3: scalings, LongRoPE short factors, tied head", 0),
             ("plm", "plm: plain q_proj, ReLU² MLPs, the latent normalised with rms_norm_eps, tied head", 0)]
    with tempfile.TemporaryDirectory() as tmp:
        for n, (kind, name, block) in enumerate(cases):
            directory = Path(tmp) / str(n)
            directory.mkdir()
            w = random_weights(kind, torch.Generator().manual_seed(10 + n))
            tensors, dtypes, rounded = to_fp8(w, block) if block else (w, {}, w)
            save_file(tensors, directory / "model.safetensors", dtypes=dtypes)
            (directory / "config.json").write_text(json.dumps(config(kind, block)))
            routing = "softmax" if kind == "v2" else "sigmoid"
            with torch.no_grad():
                expected = reference(rounded, ids, kind, routing)
                model, _, _ = hf_mla.load(directory)
                mask = torch.ones(1, ids.shape[0], dtype=torch.int64)
                got, _ = model(ids[None], mask, positions_for(mask), model.empty_states(1))
            check(name, float((got[0] - expected).abs().max()))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
