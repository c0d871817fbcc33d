"""TransMLA: training-free conversion of a GQA model (``llama.py``) into MLA (``mla.py``).

The steps, per layer (paper arXiv 2502.07864; our own formulation and code):

1. **Identity up-projections.** Concatenate the n_kv key heads into one latent key
   ``k_lat = W_k x`` of width n_kv·d_h (same for V). Head h reads its KV group through a fixed
   selector ``up_h`` (a d_h × n_kv·d_h block of an identity): GQA becomes MHA over a latent
   shared by all heads. Exact.
2. **RoRoPE.** Rotate-half RoPE turns dims (i, i + d_h/2) of every head by the same angle, so any
   real orthogonal mix of the *heads* at one frequency commutes with RoPE. Per frequency we take
   the PCA of the calibration keys across heads (covariance ``XᵀX + YᵀY`` of the pair's two
   coordinates, one eigenbasis used for both) and rotate the latent key into it (``k' = P k_lat``).
   The leading components keep RoPE and become the shared key ``k_pe`` (d_r dims); the others
   lose RoPE and join the compressed part. Exact until RoPE is dropped.
   **FreqFold**: ``freqfold`` adjacent frequencies are pooled into one PCA (n_kv·freqfold
   components); component k of group g then rotates at the teacher's frequency
   ``g·freqfold + ⌊k·freqfold/m⌋`` (m components kept per group) — with freqfold·n_kv = 2·m this is
   TransMLA's ``cos[..., ::collapse]``. Pooling frequencies is itself an approximation.
3. **Balance K/V.** Scale the RoPE-less key part by α = ‖V‖/‖K_nope‖ (calibration RMS) so the
   joint PCA doesn't favour K; α⁻¹ goes into the up-projection. Exact.
4. **Joint PCA** of ``[α·K_nope ; V]`` (uncentred covariance of calibration activations), keep
   ``kv_lora_rank`` components R: ``kv_a_proj_with_mqa = [Rᵀ W_z ; P_rope W_k]``,
   ``kv_b_proj`` = per head ``[α⁻¹ up_h P_noperᵀ R_K ; up_h R_V]``. Exact at full rank.
5. **Query.** ``q_nope = q_h`` (d_nope = d_h, RoPE dropped like the key's nope part);
   ``q_pe = P_rope up_hᵀ q_h`` (the RoPE part of the up-projection folded into ``q_proj``); both
   scaled by √((d_h + d_r)/d_h) because MLA divides scores by √(d_nope + d_r), not √d_h.

Calibration: random token ids from a seeded generator run through the teacher; every layer's
attention input is recorded. The conversion runs in float64 and stores float32 weights.

Full-rank exactness (``check_families.py``): with d_r = n_kv·d_h and freqfold 1 no RoPE is
dropped and the model is exact at any position; with the fixture's d_r < n_kv·d_h it is exact at
position 0 for every token (RoPE is the identity there), which exercises every matrix of the
conversion; anywhere else the dropped RoPE of the nope components is the (lossy) approximation.
"""

from __future__ import annotations

import copy
from typing import List, Tuple

import torch

from .common import CausalLM
from .llama import LlamaConfig
from .mla import MLAConfig, MLAttention


@torch.no_grad()
def attention_inputs(model: CausalLM, ids: torch.Tensor) -> List[torch.Tensor]:
    """Each layer's mixer input (after ``input_layernorm``) for ``ids`` [B, S], as [B·S, hidden]."""
    seen: List[torch.Tensor] = []
    hooks = [layer.mixer.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
             for layer in model.layers]
    try:
        mask = torch.ones_like(ids)
        positions = torch.arange(ids.shape[1]).unsqueeze(0).repeat(ids.shape[0], 1)
        model(ids, mask, positions, model.empty_states(ids.shape[0]))
    finally:
        for h in hooks:
            h.remove()
    return [x.reshape(-1, x.shape[-1]).to(torch.float64) for x in seen]


def calibration_ids(vocab: int, seed: int, rows: int = 8, length: int = 64) -> torch.Tensor:
    return torch.randint(3, vocab, (rows, length), generator=torch.Generator().manual_seed(seed))


def top_eigvecs(cov: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors (columns) of a symmetric matrix, each vector's
    largest-magnitude entry made positive so the result does not depend on LAPACK's signs."""
    vals, vecs = torch.linalg.eigh(cov)
    vals, vecs = vals.flip(0), vecs.flip(1)
    idx = vecs.abs().argmax(dim=0)
    signs = torch.sign(vecs[idx, torch.arange(vecs.shape[1])])
    signs[signs == 0] = 1
    return vals, vecs * signs


def rorope_basis(k_lat: torch.Tensor, n_kv: int, d_h: int, d_r: int, freqfold: int):
    """Orthogonal P [n_kv·d_h, n_kv·d_h] with ``P k_lat = [k_rope (d_r, rotate-half layout); k_nope]``
    and the teacher frequency index of each of the d_r/2 RoPE pairs."""
    half = d_h // 2
    assert half % freqfold == 0, "freqfold must divide d_h/2"
    groups = half // freqfold
    comps = n_kv * freqfold
    assert (d_r // 2) % groups == 0, "d_r/2 must be a multiple of the number of frequency groups"
    m = (d_r // 2) // groups
    assert 1 <= m <= comps, "cannot keep more RoPE components than a group has"
    width = n_kv * d_h
    p = torch.zeros(width, width, dtype=torch.float64)
    pairs: List[int] = []
    nope_row = d_r
    for g in range(groups):
        freqs = range(g * freqfold, (g + 1) * freqfold)
        xdims = [j * d_h + f for j in range(n_kv) for f in freqs]
        ydims = [j * d_h + f + half for j in range(n_kv) for f in freqs]
        x, y = k_lat[:, xdims], k_lat[:, ydims]
        _, u = top_eigvecs(x.T @ x + y.T @ y)
        for k in range(comps):
            if k < m:
                row = g * m + k
                p[row, xdims] = u[:, k]
                p[row + d_r // 2, ydims] = u[:, k]
                pairs.append(g * freqfold + (k * freqfold) // m)
            else:
                p[nope_row, xdims] = u[:, k]
                p[nope_row + 1, ydims] = u[:, k]
                nope_row += 2
    assert nope_row == width
    return p, pairs


@torch.no_grad()
def convert_layer(attn, x: torch.Tensor, tcfg: LlamaConfig, kv_lora_rank: int, d_r: int,
                  freqfold: int, balance: bool = True) -> MLAttention:
    """One GQAttention → MLAttention, from its calibration inputs ``x`` [N, hidden] (float64)."""
    h, n_kv, d_h = tcfg.num_attention_heads, tcfg.num_key_value_heads, tcfg.head_dim
    group = h // n_kv
    width = n_kv * d_h
    w_q = attn.q_proj.weight.to(torch.float64)
    w_k = attn.k_proj.weight.to(torch.float64)
    w_v = attn.v_proj.weight.to(torch.float64)
    eye = torch.eye(width, dtype=torch.float64)
    up = [eye[(i // group) * d_h:(i // group + 1) * d_h] for i in range(h)]  # step 1: [d_h, width]

    p, pairs = rorope_basis(x @ w_k.T, n_kv, d_h, d_r, freqfold)  # step 2
    p_rope, p_nope = p[:d_r], p[d_r:]
    w_knope = p_nope @ w_k
    k_nope, v = x @ w_knope.T, x @ w_v.T
    alpha = 1.0
    if balance and k_nope.shape[1] > 0:  # step 3
        alpha = float(v.pow(2).sum(1).mean().sqrt() / k_nope.pow(2).sum(1).mean().sqrt())
    w_z = torch.cat([alpha * w_knope, w_v])  # step 4
    z = x @ w_z.T
    assert kv_lora_rank <= w_z.shape[0], f"kv_lora_rank {kv_lora_rank} > latent width {w_z.shape[0]}"
    _, vecs = top_eigvecs(z.T @ z)
    r = vecs[:, :kv_lora_rank]
    r_k, r_v = r[:w_knope.shape[0]], r[w_knope.shape[0]:]
    kv_a = torch.cat([r.T @ w_z, p_rope @ w_k])
    kv_b = torch.cat([torch.cat([(up[i] @ p_nope.T @ r_k) / alpha, up[i] @ r_v]) for i in range(h)])

    scale = ((d_h + d_r) / d_h) ** 0.5  # step 5
    q_rows = []
    for i in range(h):
        w_qi = w_q[i * d_h:(i + 1) * d_h]
        q_rows += [scale * w_qi, scale * (p_rope @ up[i].T @ w_qi)]
    cfg = MLAConfig(
        hidden_size=tcfg.hidden_size, num_attention_heads=h, kv_lora_rank=kv_lora_rank,
        qk_rope_head_dim=d_r, qk_nope_head_dim=d_h, v_head_dim=d_h, rope_theta=tcfg.rope_theta,
        rope_scaling=tcfg.rope_scaling,
        rope_pairs=pairs, rope_base_dim=d_h, rms_norm_eps=tcfg.rms_norm_eps,
    )
    mla = MLAttention(cfg)
    mla.q_proj.weight.copy_(torch.cat(q_rows).to(torch.float32))
    mla.kv_a_proj_with_mqa.weight.copy_(kv_a.to(torch.float32))
    mla.kv_b_proj.weight.copy_(kv_b.to(torch.float32))
    mla.o_proj.weight.copy_(attn.o_proj.weight)
    return mla


@torch.no_grad()
def convert(teacher: CausalLM, tcfg: LlamaConfig, kv_lora_rank: int, d_r: int, freqfold: int,
            calib_seed: int, balance: bool = True) -> Tuple[CausalLM, List[MLAConfig]]:
    """The teacher with every attention layer converted; embeddings, norms and MLPs copied."""
    xs = attention_inputs(teacher, calibration_ids(tcfg.vocab_size, calib_seed))
    model = copy.deepcopy(teacher)
    cfgs = []
    for layer, x in zip(model.layers, xs):
        layer.mixer = convert_layer(layer.mixer, x, tcfg, kv_lora_rank, d_r, freqfold, balance)
        cfgs.append(layer.mixer.cfg)
    return model.eval(), cfgs
