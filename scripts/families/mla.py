"""Multi-head latent attention (DeepSeek-V2/V3 style) with the compressed cache.

Per token, ``kv_a_proj_with_mqa`` makes a latent ``c_kv`` (width ``r_kv``) and one RoPE key
``k_pe`` (width ``d_r``) that every head shares. Those two are all a layer caches:

    past_key_values.{i}.key   = c_kv  [B, 1, T, r_kv]
    past_key_values.{i}.value = k_pe  [B, 1, T, d_r]   (RoPE already applied)

so bytes/token = Σ_layers (r_kv + d_r)·s, against 2·n_kv·d_h·s for GQA.

Head ``i`` sees k_nope = W_UK,i c_kv and v = W_UV,i c_kv (``kv_b_proj`` stacks them per head as
``[k_nope (d_nope); v (d_v)]``) and the query ``[q_nope (d_nope); q_pe (d_r)]``; scores are
``(q_nope·k_nope + q_pe·k_pe) · (d_nope + d_r)^-½``. Two ways to compute the same thing:

- ``expanded``: decompress k_nope and v for every head from the cached c_kv, then attend;
- ``absorbed``: fold W_UK,i into the query (q̃ = W_UK,iᵀ q_nope, width r_kv) and score against
  c_kv directly; apply W_UV,i after the probability-weighted sum of c_kv. No per-head key or
  value is ever materialised. The causal/padding bias is added exactly as in the expanded form,
  so the absorbed form is exact for any chunk length, prefill included.

The ONNX export uses ``absorbed``; the PyTorch reference cases use ``expanded``; the engine's
parity test therefore checks that the two agree through the exported graph.

Choices, documented here once:
- RoPE is rotate-half (as in ``common.py``): within the d_r RoPE dims, dim j pairs with dim
  j + d_r/2. DeepSeek's own checkpoints use the interleaved layout; a layout is a fixed permutation
  of q_pe/k_pe rows, so nothing about the cache size or the math changes.
- The RoPE frequencies are ``theta^(-2·p/rope_base_dim)`` for ``p`` in ``rope_pairs`` (after the
  teacher's ``rope_scaling``, if any, is applied to the whole set). The default
  (``rope_pairs = 0..d_r/2-1``, ``rope_base_dim = d_r``) is ordinary RoPE of width d_r; the
  conversions pick the teacher's own frequencies instead (TransMLA's "collapse", X-EcoMLA's kept
  pairs), so the kept RoPE dims rotate exactly as they did in the teacher.
- ``kv_a_layernorm`` (RMSNorm on c_kv, as in DeepSeek) is optional and off by default. The
  conversions leave it off: with it, the latent is rescaled per token and a full-rank
  factorisation of the teacher's K/V would no longer be exact. When it is on, the cache holds the
  normalised c_kv (the norm is per token, so this is equivalent and saves recomputing it).
- ``q_lora_rank`` None gives a plain ``q_proj``; otherwise ``q_a_proj`` → optional
  ``q_a_layernorm`` → ``q_b_proj``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import torch
from torch import nn

from .common import RMSNorm, StateDecl, StepContext, apply_rope
from .common import rope_inv_freq as common_rope_inv_freq

FORMS = ("absorbed", "expanded")


@dataclass
class MLAConfig:
    hidden_size: int = 64
    num_attention_heads: int = 4
    kv_lora_rank: int = 16
    qk_rope_head_dim: int = 8
    qk_nope_head_dim: int = 8
    v_head_dim: int = 16
    q_lora_rank: Optional[int] = None
    q_a_layernorm: bool = False
    kv_a_layernorm: bool = False
    rope_theta: float = 10000.0
    rope_pairs: Optional[List[int]] = None  # frequency index of each RoPE pair
    rope_base_dim: Optional[int] = None  # the d in theta^(-2p/d)
    rope_scaling: Optional[dict] = None  # the teacher's (Llama 3) RoPE scaling, applied before picking pairs
    rms_norm_eps: float = 1e-5
    form: str = "absorbed"

    def pairs(self) -> List[int]:
        if self.rope_pairs is not None:
            assert len(self.rope_pairs) * 2 == self.qk_rope_head_dim
            return list(self.rope_pairs)
        return list(range(self.qk_rope_head_dim // 2))

    def base_dim(self) -> int:
        return self.rope_base_dim if self.rope_base_dim is not None else self.qk_rope_head_dim


def rope_inv_freq(cfg: MLAConfig) -> torch.Tensor:
    """Inverse frequency of each RoPE pair: ``common.rope_inv_freq`` (scaling included) at ``pairs``."""
    full = common_rope_inv_freq(cfg.base_dim(), cfg.rope_theta, cfg.rope_scaling)
    return full[torch.tensor(cfg.pairs(), dtype=torch.int64)]


class MLAttention(nn.Module):
    """One MLA layer; ``form`` picks absorbed or expanded attention (same weights, same cache).

    With ``grouped_heads`` (see ``common.set_grouped_heads``) the absorbed form scores all heads
    against the shared latent in one matrix product (heads × positions as its rows), so the latent
    is read once per layer rather than once per head.
    """

    grouped_heads = False
    tpla_shards = 1
    """TPLA (``tpla.py``): the latent is cut into this many slices, each attended with its own
    softmax and the outputs summed; 1 is plain MLA."""

    def __init__(self, cfg: MLAConfig):
        super().__init__()
        assert cfg.form in FORMS, cfg.form
        assert cfg.qk_rope_head_dim % 2 == 0
        self.cfg = cfg
        self.form = cfg.form
        h = cfg.num_attention_heads
        qk = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim
        if cfg.q_lora_rank is None:
            self.q_proj = nn.Linear(cfg.hidden_size, h * qk, bias=False)
        else:
            self.q_a_proj = nn.Linear(cfg.hidden_size, cfg.q_lora_rank, bias=False)
            if cfg.q_a_layernorm:
                self.q_a_layernorm = RMSNorm(cfg.q_lora_rank, cfg.rms_norm_eps)
            self.q_b_proj = nn.Linear(cfg.q_lora_rank, h * qk, bias=False)
        kv_a_width = cfg.kv_lora_rank + cfg.qk_rope_head_dim
        self.kv_a_proj_with_mqa = nn.Linear(cfg.hidden_size, kv_a_width, bias=False)
        if cfg.kv_a_layernorm:
            self.kv_a_layernorm = RMSNorm(cfg.kv_lora_rank, cfg.rms_norm_eps)
        self.kv_b_proj = nn.Linear(cfg.kv_lora_rank, h * (cfg.qk_nope_head_dim + cfg.v_head_dim), bias=False)
        self.o_proj = nn.Linear(h * cfg.v_head_dim, cfg.hidden_size, bias=False)
        self.register_buffer("inv_freq", rope_inv_freq(cfg), persistent=False)
        # TPLA's per-slice logit scale (``tpla.py``), one per slice; unused while tpla_shards is 1.
        self.register_buffer("tpla_scale", torch.ones(1), persistent=False)

    def states(self, layer: int):
        cfg = self.cfg
        return [
            StateDecl(f"past_key_values.{layer}.key", f"present.{layer}.key",
                      ["batch_size", 1, "past_sequence_length", cfg.kv_lora_rank], True),
            StateDecl(f"past_key_values.{layer}.value", f"present.{layer}.value",
                      ["batch_size", 1, "past_sequence_length", cfg.qk_rope_head_dim], True),
        ]

    def rope(self, positions: torch.Tensor):
        freqs = positions.to(torch.float32).unsqueeze(-1) * self.inv_freq
        emb = torch.cat([freqs, freqs], dim=-1)
        return emb.cos(), emb.sin()

    def query(self, x):
        cfg = self.cfg
        if cfg.q_lora_rank is None:
            return self.q_proj(x)
        a = self.q_a_proj(x)
        if cfg.q_a_layernorm:
            a = self.q_a_layernorm(a)
        return self.q_b_proj(a)

    def project(self, x, ctx: StepContext):
        """q_nope [B,H,S,d_nope], q_pe [B,H,S,d_r] (RoPE), c_kv [B,1,S,r_kv], k_pe [B,1,S,d_r] (RoPE)."""
        cfg = self.cfg
        b, s, _ = x.shape
        h = cfg.num_attention_heads
        q = self.query(x).view(b, s, h, cfg.qk_nope_head_dim + cfg.qk_rope_head_dim).transpose(1, 2)
        q_nope, q_pe = q[..., :cfg.qk_nope_head_dim], q[..., cfg.qk_nope_head_dim:]
        kv = self.kv_a_proj_with_mqa(x)
        c_kv, k_pe = kv[..., :cfg.kv_lora_rank], kv[..., cfg.kv_lora_rank:]
        if cfg.kv_a_layernorm:
            c_kv = self.kv_a_layernorm(c_kv)
        cos, sin = self.rope(ctx.positions)
        q_pe = apply_rope(q_pe, cos, sin)
        k_pe = apply_rope(k_pe.unsqueeze(1), cos, sin)
        return q_nope, q_pe, c_kv.unsqueeze(1), k_pe

    def grouped(self, q_nope, q_pe, c_all, pe_all, ctx: StepContext, scale: float):
        """The absorbed form's output [B, H, S, d_v], all heads scored against the shared cache
        in one product whose rows are heads × positions."""
        w_uk, w_uv = self.split_kv_b()
        q_lat = torch.matmul(q_nope, w_uk)  # [B, H, S, r]
        b, h, s, r = q_lat.shape
        t = c_all.shape[2]

        def rows(x):  # [B, H, S, w] -> [B, 1, H·S, w]
            return x.reshape(b, 1, h * s, x.shape[-1])

        latent = torch.matmul(rows(q_lat), c_all.transpose(2, 3))
        latent = latent + torch.matmul(rows(q_pe), pe_all.transpose(2, 3))
        probs = torch.softmax(latent.reshape(b, h, s, t) * scale + ctx.bias, dim=-1)
        o_lat = torch.matmul(probs.reshape(b, 1, h * s, t), c_all).reshape(b, h, s, r)
        return torch.matmul(o_lat, w_uv.transpose(1, 2))

    def split_kv_b(self):
        """W_UK [H, d_nope, r_kv] and W_UV [H, d_v, r_kv] from ``kv_b_proj``."""
        cfg = self.cfg
        w = self.kv_b_proj.weight.view(cfg.num_attention_heads, cfg.qk_nope_head_dim + cfg.v_head_dim,
                                       cfg.kv_lora_rank)
        return w[:, :cfg.qk_nope_head_dim], w[:, cfg.qk_nope_head_dim:]

    def forward(self, x, ctx: StepContext, past):
        cfg = self.cfg
        q_nope, q_pe, c_kv, k_pe = self.project(x, ctx)
        c_all = torch.cat([past[0], c_kv], dim=2)  # [B, 1, T, r_kv]
        pe_all = torch.cat([past[1], k_pe], dim=2)  # [B, 1, T, d_r]
        scale = 1.0 / math.sqrt(cfg.qk_nope_head_dim + cfg.qk_rope_head_dim)
        if self.tpla_shards > 1:
            out = self.sharded(q_nope, q_pe, c_all, pe_all, ctx, scale)
            return self.o_proj(self.merge_heads(out)), [c_all, pe_all]
        if self.form == "absorbed" and self.grouped_heads:
            out = self.grouped(q_nope, q_pe, c_all, pe_all, ctx, scale)
            return self.o_proj(self.merge_heads(out)), [c_all, pe_all]
        rope_scores = torch.matmul(q_pe, pe_all.transpose(2, 3))  # [B, H, S, T]
        if self.form == "absorbed":
            w_uk, w_uv = self.split_kv_b()
            q_lat = torch.matmul(q_nope, w_uk)  # [B,H,S,d_nope] x [H,d_nope,r] -> [B,H,S,r]
            scores = (torch.matmul(q_lat, c_all.transpose(2, 3)) + rope_scores) * scale + ctx.bias
            probs = torch.softmax(scores, dim=-1)
            o_lat = torch.matmul(probs, c_all)  # [B, H, S, r]
            out = torch.matmul(o_lat, w_uv.transpose(1, 2))  # [B, H, S, d_v]
        else:
            b, _, t, _ = c_all.shape
            kv = self.kv_b_proj(c_all[:, 0]).view(b, t, cfg.num_attention_heads,
                                                  cfg.qk_nope_head_dim + cfg.v_head_dim).transpose(1, 2)
            k_nope, v = kv[..., :cfg.qk_nope_head_dim], kv[..., cfg.qk_nope_head_dim:]
            scores = (torch.matmul(q_nope, k_nope.transpose(2, 3)) + rope_scores) * scale + ctx.bias
            probs = torch.softmax(scores, dim=-1)
            out = torch.matmul(probs, v)
        return self.o_proj(self.merge_heads(out)), [c_all, pe_all]

    def sharded(self, q_nope, q_pe, c_all, pe_all, ctx: StepContext, scale: float):
        """TPLA's attention output [B, H, S, d_v]: each of ``tpla_shards`` slices of the latent is
        attended on its own — its no-RoPE logits times its ``tpla_scale``, plus the RoPE logits
        every slice shares, its own softmax — and the slices' outputs are summed (TPLA's all-reduce).
        Same in both forms: absorbed scores against the latent slice, expanded decompresses it."""
        cfg = self.cfg
        w_uk, w_uv = self.split_kv_b()  # [H, d_nope, r], [H, d_v, r]
        rope_scores = torch.matmul(q_pe, pe_all.transpose(2, 3))
        width = cfg.kv_lora_rank // self.tpla_shards
        out = None
        for i in range(self.tpla_shards):
            part = slice(i * width, (i + 1) * width)
            c_i = c_all[..., part]  # [B, 1, T, r/g]
            if self.form == "absorbed":
                nope = torch.matmul(torch.matmul(q_nope, w_uk[..., part]), c_i.transpose(2, 3))
            else:
                k_i = torch.matmul(c_i, w_uk[..., part].transpose(1, 2))  # [B, H, T, d_nope]
                nope = torch.matmul(q_nope, k_i.transpose(2, 3))
            probs = torch.softmax((nope * self.tpla_scale[i] + rope_scores) * scale + ctx.bias, dim=-1)
            if self.form == "absorbed":
                o_i = torch.matmul(torch.matmul(probs, c_i), w_uv[..., part].transpose(1, 2))
            else:
                o_i = torch.matmul(probs, torch.matmul(c_i, w_uv[..., part].transpose(1, 2)))
            out = o_i if out is None else out + o_i
        return out

    @property
    def fused(self):
        """This layer's form in ``fused.build``'s graph (absorbed: the heads score the latent and
        the RoPE key as one shared key head); TPLA's sliced softmax has none."""
        return None if self.tpla_shards > 1 else self._fused

    @property
    def fused_static(self) -> bool:
        """Whether GroupQueryAttention serves this layer with a static cache: its key head
        [k_pe; c_kv] must be a multiple of 16 wide (ONNX Runtime's CPU kernel) and at most 256 (its
        CUDA kernels), and TPLA's slices have no such form."""
        width = self.cfg.kv_lora_rank + self.cfg.qk_rope_head_dim
        return self.tpla_shards == 1 and width % 16 == 0 and width <= 256

    def static_states(self, layer: int):
        """The state in a static cache's graph: one buffer [k_pe; c_kv] per layer, as many bytes a
        token as the two of ``states``."""
        cfg = self.cfg
        return [StateDecl(f"past_key_values.{layer}.latent", f"present.{layer}.latent",
                          ["batch_size", 1, "past_sequence_length", cfg.qk_rope_head_dim + cfg.kv_lora_rank], True)]

    def _fused(self, g, layer: int, h: str, ctx, past, present) -> str:
        from .fused import matmul

        cfg = self.cfg
        name = f"layers.{layer}.self_attn"
        heads, nope, rope, rank = cfg.num_attention_heads, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.kv_lora_rank
        if cfg.q_lora_rank is None:
            q = matmul(g, h, [self.q_proj], f"{name}.q_proj")[0]
        else:
            q = matmul(g, h, [self.q_a_proj], f"{name}.q_a_proj")[0]
            if cfg.q_a_layernorm:
                q = g.op1("RMSNormalization", [q, g.weight(f"{name}.q_a_layernorm.weight", self.q_a_layernorm.weight)],
                          axis=-1, epsilon=self.q_a_layernorm.eps)
            q = matmul(g, q, [self.q_b_proj], f"{name}.q_b_proj")[0]
        # [B, S, H·(d_nope + d_r)] -> [B, H, S, d_nope + d_r]
        q = g.op1("Transpose", [g.op1("Reshape", [q, g.const("shape", [0, 0, heads, nope + rope])])],
                  perm=[0, 2, 1, 3])
        q_nope, q_pe = g.op("Split", [q, g.const("split", [nope, rope])], 2, axis=-1)
        kv = matmul(g, h, [self.kv_a_proj_with_mqa], f"{name}.kv_a")[0]
        c_kv, k_pe = g.op("Split", [kv, g.const("split", [rank, rope])], 2, axis=-1)
        if cfg.kv_a_layernorm:
            c_kv = g.op1("RMSNormalization", [c_kv, g.weight(f"{name}.kv_a_layernorm.weight",
                                                             self.kv_a_layernorm.weight)],
                         axis=-1, epsilon=self.kv_a_layernorm.eps)
        q_pe, k_pe = ctx.rope(q_pe, self.inv_freq), ctx.rope(k_pe, self.inv_freq)
        if ctx.static:
            from .fused import MS

            q_lat = self._absorbed_query(g, name, q_nope)

            # One key head [k_pe; c_kv], also the value: the output's last r columns are softmax · c_kv.
            width = rope + rank
            query = g.op1("Reshape", [g.op1("Transpose", [g.op1("Concat", [q_pe, q_lat], axis=-1)], perm=[0, 2, 1, 3]),
                                      g.const("shape", [0, 0, heads * width])])
            key = g.op1("Concat", [k_pe, c_kv], axis=-1)  # [B, S, d_r + r]
            y = g.op("GroupQueryAttention", [query, key, key, past[0], past[0], ctx.seqlens_k, ctx.total_length],
                     [g.name("attn"), present[0], ctx.share(present[0])], domain=MS, num_heads=heads,
                     kv_num_heads=1, scale=1.0 / math.sqrt(nope + rope))[0]
            y = g.op1("Reshape", [y, g.const("shape", [0, 0, heads, width])])
            o_lat = g.op1("Slice", [y, g.const("start", [rope]), g.const("end", [width]), g.const("axis3", [3])])
            o_lat = g.op1("Transpose", [o_lat], perm=[0, 2, 1, 3])  # [B, H, S, r]
            return self._fused_out(g, name, o_lat)
        axis1 = g.const("axis1", [1])
        if ctx.static_layout:
            # A static cache's scoring graph: the past is the static buffer [k_pe; c_kv], so the key
            # keeps that order and the value is its last r columns.
            key_new = g.op1("Unsqueeze", [g.op1("Concat", [k_pe, c_kv], axis=-1), axis1])  # [B, 1, S, d_r + r]
            key = g.op("Concat", [past[0], key_new], [present[0]], axis=2)[0]
            c_all = g.op1("Slice", [key, g.const("start", [rope]), g.const("end", [rope + rank]),
                                    g.const("axis3", [3])])
            query = g.op1("Concat", [q_pe, self._absorbed_query(g, name, q_nope)], axis=-1)
            o_lat = g.op1("Attention", [query, key, c_all, ctx.mask], q_num_heads=heads, kv_num_heads=1,
                          scale=1.0 / math.sqrt(nope + rope))  # [B, H, S, r]
            return self._fused_out(g, name, o_lat)
        c_all = g.op("Concat", [past[0], g.op1("Unsqueeze", [c_kv, axis1])], [present[0]], axis=2)[0]
        pe_all = g.op("Concat", [past[1], g.op1("Unsqueeze", [k_pe, axis1])], [present[1]], axis=2)[0]
        q_lat = self._absorbed_query(g, name, q_nope)
        query = g.op1("Concat", [q_lat, q_pe], axis=-1)
        key = g.op1("Concat", [c_all, pe_all], axis=-1)  # [B, 1, T, r + d_r]
        o_lat = g.op1("Attention", [query, key, c_all, ctx.mask], q_num_heads=heads, kv_num_heads=1,
                      scale=1.0 / math.sqrt(nope + rope))  # [B, H, S, r]
        return self._fused_out(g, name, o_lat)

    def _absorbed_query(self, g, name: str, q_nope: str) -> str:
        """q_nope [B, H, S, d_nope] through W_UK into the latent space: [B, H, S, r]."""
        w_uk, _ = self.split_kv_b()  # [H, d_nope, r]
        return g.op1("MatMul", [q_nope, g.weight(f"{name}.w_uk", w_uk)])

    def _fused_out(self, g, name: str, o_lat: str) -> str:
        """The absorbed attention's output [B, H, S, r] through W_UV and o_proj."""
        from .fused import matmul

        cfg = self.cfg
        _, w_uv = self.split_kv_b()
        out = g.op1("MatMul", [o_lat, g.weight(f"{name}.w_uv_t", w_uv.transpose(1, 2))])  # [B, H, S, d_v]
        out = g.op1("Reshape", [g.op1("Transpose", [out], perm=[0, 2, 1, 3]),
                                g.const("shape", [0, 0, cfg.num_attention_heads * cfg.v_head_dim])])
        return matmul(g, out, [self.o_proj], f"{name}.o_proj")[0]

    def merge_heads(self, out):
        """[B, H, S, d_v] -> [B, S, H·d_v], the input of ``o_proj``."""
        b, _, s, _ = out.shape
        return out.transpose(1, 2).reshape(b, s, self.cfg.num_attention_heads * self.cfg.v_head_dim)


def set_form(model: nn.Module, form: str) -> None:
    """Switches every MLA layer of ``model`` to ``form`` ("absorbed" or "expanded")."""
    assert form in FORMS, form
    for m in model.modules():
        if isinstance(m, MLAttention):
            m.form = form


def layer_entry(index: int, cfg: MLAConfig) -> dict:
    """The sidecar's description of one MLA layer."""
    return {
        "index": index,
        "kind": "mla",
        "r_kv": cfg.kv_lora_rank,
        "d_rope": cfg.qk_rope_head_dim,
        "heads": cfg.num_attention_heads,
        "d_nope": cfg.qk_nope_head_dim,
        "d_v": cfg.v_head_dim,
        "q_lora_rank": cfg.q_lora_rank,
        "kv_a_layernorm": cfg.kv_a_layernorm,
        "rope_pairs": cfg.pairs(),
        "rope_base_dim": cfg.base_dim(),
    }


def config_entry(cfg: MLAConfig) -> dict:
    """The MLA hyper-parameters of one layer for config.json (``form`` left out, and
    ``rope_scaling`` when there is none, so configs from before it existed are unchanged)."""
    d = {k: v for k, v in vars(cfg).items() if k != "form" and not (k == "rope_scaling" and v is None)}
    d["rope_pairs"] = cfg.pairs()
    d["rope_base_dim"] = cfg.base_dim()
    return d


FORMULA = "Σ_MLA (r_kv + d_r)·s + Σ_GQA 2·n_kv·d_h·s"


@torch.no_grad()
def logit_gap(teacher: nn.Module, student: nn.Module, vocab: int, seed: int, zero_positions: bool = False,
              rows: int = 4, length: int = 32) -> dict:
    """How far ``student``'s logits are from ``teacher``'s on random ids (a conversion's error)."""
    ids = torch.randint(3, vocab, (rows, length), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    positions = torch.arange(length).unsqueeze(0).repeat(rows, 1)
    if zero_positions:
        positions = torch.zeros_like(positions)
    a, _ = teacher(ids, mask, positions, teacher.empty_states(rows))
    b, _ = student(ids, mask, positions, student.empty_states(rows))
    return {
        "max_abs": float((a - b).abs().max()),
        "mean_abs": float((a - b).abs().mean()),
        "logit_scale": float(a.abs().mean()),
        "top1_agree": float((a.argmax(-1) == b.argmax(-1)).to(torch.float32).mean()),
    }
