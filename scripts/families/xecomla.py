"""X-EcoMLA: SVD initialisation of MLA layers from a GQA teacher, hybrids with GQA layers left in.

Per MLA layer (paper arXiv 2503.11132; our own formulation and code), all in float64:

- **Query.** W_q = UΣVᵀ; ``q_a_proj = Σ_r V_rᵀ``, ``q_b_proj = U_r`` (r = ``q_lora_rank``), with each
  head's rows reordered to MLA's ``[q_nope; q_pe]``.
- **Key/value.** Repeat the GQA K and V weights to all H heads, stack ``[W_k; W_v]`` (2·H·d_h rows)
  and take its SVD UΣVᵀ. ``kv_a_proj_with_mqa = [Σ_r V_rᵀ ; mean over KV heads of W_k's RoPE rows]``,
  ``kv_b_proj`` = the rows of U_r for each head's nope key rows and all of its value rows.
- **Rank.** r_kv = the fewest singular values whose energy Σσ² reaches ``kv_energy`` of the total,
  rounded up to a multiple of 8 (capped at the stack's rank): layers differ in r_kv, and the
  engine reads each layer's width from the graph.
- o_proj, the MLP, norms and embeddings are the teacher's. Layers not in ``mla_layers`` keep the
  teacher's GQAttention (and its weights).

Which head dims are "RoPE rows": the teacher's RoPE is rotate-half, dims (i, i + d_h/2) sharing
frequency i. We keep the d_r/2 highest-frequency pairs, i.e. rows ``0..d_r/2-1`` and
``d_h/2..d_h/2+d_r/2-1`` of each head, and give k_pe/q_pe the teacher's own frequencies for those
pairs (``rope_pairs = 0..d_r/2-1``, ``rope_base_dim = d_h``) so they rotate exactly as before; the
other d_nope = d_h − d_r rows (the slow frequencies) lose RoPE. The reference code instead keeps
each head's last d_r rows and re-applies a fresh width-d_r RoPE, relying on distillation to repair
it; the choice does not change the cache (r_kv + d_r per token).

Full-rank exactness: not possible in general, for two reasons inherent to the method, not to the
rank: the nope rows lose RoPE, and the shared k_pe is the *mean* of the KV heads' RoPE rows.
With an MQA teacher (n_kv = 1, so the mean is exact) the init is exact at full rank when either
d_nope = 0 (all rows keep RoPE) or every position is 0 (RoPE is the identity) —
``check_families.py`` checks both.
"""

from __future__ import annotations

import copy
import math
from typing import List, Optional, Sequence, Tuple

import torch

from .common import CausalLM
from .llama import LlamaConfig
from .mla import MLAConfig, MLAttention


def rope_rows(d_h: int, d_r: int) -> Tuple[List[int], List[int]]:
    """(RoPE rows, nope rows) of one teacher head, each in the MLA layout order."""
    half = d_h // 2
    rope = list(range(d_r // 2)) + list(range(half, half + d_r // 2))
    nope = [i for i in range(d_h) if i not in rope]
    return rope, nope


def energy_rank(sigma: torch.Tensor, energy: float, multiple: int = 8) -> int:
    """Fewest leading singular values holding ``energy`` of Σσ², rounded up to ``multiple``."""
    full = int((sigma > sigma[0] * 1e-10).sum())
    cum = torch.cumsum(sigma.pow(2), 0) / sigma.pow(2).sum()
    k = int((cum < energy - 1e-12).sum()) + 1
    return min(full, multiple * math.ceil(k / multiple))


@torch.no_grad()
def convert_layer(attn, tcfg: LlamaConfig, d_r: int, q_lora_rank: Optional[int],
                  kv_energy: Optional[float] = None, kv_lora_rank: Optional[int] = None) -> MLAttention:
    """One GQAttention → MLAttention by SVD; r_kv from ``kv_lora_rank`` or else ``kv_energy``."""
    h, n_kv, d_h = tcfg.num_attention_heads, tcfg.num_key_value_heads, tcfg.head_dim
    group = h // n_kv
    d_nope = d_h - d_r
    rope, nope = rope_rows(d_h, d_r)
    w_q = attn.q_proj.weight.to(torch.float64)
    w_k = attn.k_proj.weight.to(torch.float64).view(n_kv, d_h, -1)
    w_v = attn.v_proj.weight.to(torch.float64).view(n_kv, d_h, -1)

    u, s, vt = torch.linalg.svd(w_q, full_matrices=False)
    r_q = q_lora_rank if q_lora_rank is not None else s.shape[0]
    q_a = s[:r_q, None] * vt[:r_q]
    q_b = u[:, :r_q].reshape(h, d_h, r_q)[:, nope + rope].reshape(h * d_h, r_q)

    heads = [i // group for i in range(h)]
    stack = torch.cat([w_k[heads].reshape(h * d_h, -1), w_v[heads].reshape(h * d_h, -1)])
    u, s, vt = torch.linalg.svd(stack, full_matrices=False)
    r_kv = kv_lora_rank if kv_lora_rank is not None else energy_rank(s, kv_energy)
    c = s[:r_kv, None] * vt[:r_kv]
    k_pe = w_k[:, rope].mean(0)
    u_k = u[:h * d_h, :r_kv].reshape(h, d_h, r_kv)[:, nope]
    u_v = u[h * d_h:, :r_kv].reshape(h, d_h, r_kv)
    kv_b = torch.cat([u_k, u_v], dim=1).reshape(h * (d_nope + d_h), r_kv)

    cfg = MLAConfig(
        hidden_size=tcfg.hidden_size, num_attention_heads=h, kv_lora_rank=r_kv, qk_rope_head_dim=d_r,
        qk_nope_head_dim=d_nope, v_head_dim=d_h, q_lora_rank=r_q, rope_theta=tcfg.rope_theta,
        rope_scaling=tcfg.rope_scaling,
        rope_pairs=list(range(d_r // 2)), rope_base_dim=d_h, rms_norm_eps=tcfg.rms_norm_eps,
    )
    mla = MLAttention(cfg)
    mla.q_a_proj.weight.copy_(q_a.to(torch.float32))
    mla.q_b_proj.weight.copy_(q_b.to(torch.float32))
    mla.kv_a_proj_with_mqa.weight.copy_(torch.cat([c, k_pe]).to(torch.float32))
    mla.kv_b_proj.weight.copy_(kv_b.to(torch.float32))
    mla.o_proj.weight.copy_(attn.o_proj.weight)
    return mla


@torch.no_grad()
def convert(teacher: CausalLM, tcfg: LlamaConfig, mla_layers: Sequence[int], d_r: int,
            q_lora_rank: Optional[int], kv_energy: Optional[float] = None,
            kv_lora_rank: Optional[int] = None) -> Tuple[CausalLM, List[Optional[MLAConfig]]]:
    """The teacher with the layers in ``mla_layers`` made MLA; per layer its MLAConfig or None (GQA)."""
    model = copy.deepcopy(teacher)
    cfgs: List[Optional[MLAConfig]] = []
    for i, layer in enumerate(model.layers):
        if i in mla_layers:
            layer.mixer = convert_layer(layer.mixer, tcfg, d_r, q_lora_rank, kv_energy, kv_lora_rank)
            cfgs.append(layer.mixer.cfg)
        else:
            cfgs.append(None)
    return model.eval(), cfgs


@torch.no_grad()
def decay_spectrum(linear: torch.nn.Linear, tau: float) -> None:
    """Multiplies the i-th singular value of ``linear.weight`` by exp(-i/tau), keeping its norm.

    Random weights have the same flat spectrum in every layer, so an energy threshold would pick the
    same rank everywhere; trained layers differ. The X-EcoMLA fixture's teacher uses this to give
    its layers different effective ranks (smaller ``tau`` = faster decay = lower rank).
    """
    w = linear.weight.to(torch.float64)
    u, s, vt = torch.linalg.svd(w, full_matrices=False)
    s = s * torch.exp(-torch.arange(s.shape[0], dtype=torch.float64) / tau)
    s = s * (w.norm() / s.norm())
    linear.weight.copy_(((u * s) @ vt).to(torch.float32))


def layer_layout(tcfg: LlamaConfig, cfgs: Sequence[Optional[MLAConfig]]) -> list:
    """Sidecar layers: "mla" entries for converted layers, llama's "gqa" entries for the rest."""
    from .llama import layer_layout as gqa_layout
    from .mla import layer_entry

    gqa = gqa_layout(tcfg)
    return [layer_entry(i, c) if c is not None else gqa[i] for i, c in enumerate(cfgs)]
