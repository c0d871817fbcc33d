"""Baseline: Llama-style grouped-query attention with RoPE and a growing K/V cache."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .common import StateDecl, StepContext, apply_rope, repeat_kv, rope_cos_sin


@dataclass
class LlamaConfig:
    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    max_position_embeddings: int = 256
    # A Hugging Face ``rope_scaling`` dict (see ``common.rope_inv_freq``), set by ``hf_llama`` for
    # Llama 3.1+ checkpoints. A class attribute, not a dataclass field, so that configs without it
    # serialise (``vars``) exactly as before; an instance that sets it carries it in ``vars``.
    rope_scaling = None


class GQAttention(nn.Module):
    """Cache per layer: K (RoPE applied) and V, each [B, n_kv, T, d_h].

    With ``grouped_heads`` (see ``common.set_grouped_heads``) the query heads that share a KV head
    are the rows of one matrix product with that head's K and V, instead of K and V being repeated
    once per query head: the same scores, without a per-step copy of the cache per query head.
    """

    grouped_heads = False

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        h, kv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, h * d, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, kv * d, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, kv * d, bias=False)
        self.o_proj = nn.Linear(h * d, cfg.hidden_size, bias=False)

    def states(self, layer: int):
        shape = ["batch_size", self.cfg.num_key_value_heads, "past_sequence_length", self.cfg.head_dim]
        return [
            StateDecl(f"past_key_values.{layer}.key", f"present.{layer}.key", list(shape), True),
            StateDecl(f"past_key_values.{layer}.value", f"present.{layer}.value", list(shape), True),
        ]

    def static_states(self, layer: int):
        """The states in a static cache's graph: the same two buffers."""
        return self.states(layer)

    def project(self, x, ctx: StepContext):
        """q [B,H,S,d], new k/v [B,n_kv,S,d] with RoPE applied to q and k."""
        cfg = self.cfg
        b, s, _ = x.shape
        d = cfg.head_dim
        q = self.q_proj(x).view(b, s, cfg.num_attention_heads, d).transpose(1, 2)
        k = self.k_proj(x).view(b, s, cfg.num_key_value_heads, d).transpose(1, 2)
        v = self.v_proj(x).view(b, s, cfg.num_key_value_heads, d).transpose(1, 2)
        cos, sin = rope_cos_sin(ctx.positions, d, cfg.rope_theta, cfg.rope_scaling)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def scores_bias(self, ctx: StepContext, k_all, v_all):
        """Extra additive bias on the attention scores; the baseline has none."""
        return ctx.bias

    def forward(self, x, ctx: StepContext, past):
        cfg = self.cfg
        q, k, v = self.project(x, ctx)
        k_all = torch.cat([past[0], k], dim=2)
        v_all = torch.cat([past[1], v], dim=2)
        if self.grouped_heads:
            out = self.grouped(q, k_all, v_all, ctx)
        else:
            groups = cfg.num_attention_heads // cfg.num_key_value_heads
            scores = torch.matmul(q, repeat_kv(k_all, groups).transpose(2, 3)) / math.sqrt(cfg.head_dim)
            scores = scores + self.scores_bias(ctx, k_all, v_all)
            probs = torch.softmax(scores, dim=-1)
            out = torch.matmul(probs, repeat_kv(v_all, groups))
        b, _, s, _ = out.shape
        out = out.transpose(1, 2).reshape(b, s, cfg.num_attention_heads * cfg.head_dim)
        return self.o_proj(out), [k_all, v_all]

    @property
    def fused_static(self) -> bool:
        """Whether GroupQueryAttention serves this layer with a static cache: ONNX Runtime's CPU kernel
        takes head sizes that are multiples of 16."""
        return self.cfg.head_dim % 16 == 0

    def fused(self, g, layer: int, h: str, ctx, past, present) -> str:
        """This layer in ``fused.build``'s graph: one q/k/v product, then RoPE and the Attention op,
        which appends k and v to the past itself, or (a static cache) GroupQueryAttention, which
        rotates q and k and writes k and v into the cache buffer in place."""
        from .fused import MS, matmul

        from .common import rope_inv_freq

        cfg = self.cfg
        name = f"layers.{layer}.self_attn"
        q, k, v = matmul(g, h, [self.q_proj, self.k_proj, self.v_proj], f"{name}.qkv")
        inv_freq = rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling)
        if ctx.static:
            cos, sin = ctx.rope_tables(inv_freq)
            y = g.op("GroupQueryAttention", [q, k, v, *past, ctx.seqlens_k, ctx.total_length, cos, sin],
                     [g.name("attn"), *present], domain=MS, num_heads=cfg.num_attention_heads,
                     kv_num_heads=cfg.num_key_value_heads, do_rotary=1, rotary_interleaved=0)[0]
            return g.op1("MatMul", [y, g.weight(f"{name}.o_proj.weight", self.o_proj.weight.t())])
        q, k = ctx.rope(q, inv_freq), ctx.rope(k, inv_freq)
        y = g.op("Attention", [q, k, v, ctx.mask, *past], [g.name("attn"), *present],
                 q_num_heads=cfg.num_attention_heads, kv_num_heads=cfg.num_key_value_heads)[0]
        return g.op1("MatMul", [y, g.weight(f"{name}.o_proj.weight", self.o_proj.weight.t())])

    def grouped(self, q, k_all, v_all, ctx: StepContext):
        """Attention output [B, H, S, d] with each KV head's query heads as rows of one product."""
        cfg = self.cfg
        b, h, s, d = q.shape
        n, t = cfg.num_key_value_heads, k_all.shape[2]
        groups = h // n
        rows = q.reshape(b, n, groups * s, d)  # head j reads KV head j // groups, as repeat_kv pairs them
        scores = torch.matmul(rows, k_all.transpose(2, 3)).reshape(b, h, s, t) / math.sqrt(cfg.head_dim)
        probs = torch.softmax(scores + self.scores_bias(ctx, k_all, v_all), dim=-1)
        return torch.matmul(probs.reshape(b, n, groups * s, t), v_all).reshape(b, h, s, d)


def build(cfg: LlamaConfig):
    from .common import CausalLM

    mixers = [GQAttention(cfg) for _ in range(cfg.num_hidden_layers)]
    return CausalLM(cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, mixers, cfg.rms_norm_eps)


def layer_layout(cfg: LlamaConfig):
    return [
        {"index": i, "kind": "gqa", "n_kv": cfg.num_key_value_heads, "head_dim": cfg.head_dim}
        for i in range(cfg.num_hidden_layers)
    ]
