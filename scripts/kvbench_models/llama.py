"""Baseline family: a Llama-style decoder with grouped-query attention.

This is the reference point every other family is measured against: its
cache is the plain ``2 * L * n_kv * d_h`` values per token.  The attention
class is also the base that DMA (and later GQA-derived families) extend, via
the :meth:`GQAAttention.attention_bias` hook.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

import torch
from torch import nn

from .common import (
    CacheSpec,
    CausalLM,
    Context,
    DecoderBlock,
    Mixer,
    ModelConfig,
    RMSNorm,
    RotaryEmbedding,
    State,
    SwiGLU,
    apply_rope,
    kv_specs,
    masked_attention,
    repeat_kv,
    seeded_init,
)

NAME = "llama"
CACHE_FORMULA = "2 * L * n_kv * d_h * s"


@dataclasses.dataclass
class LlamaConfig(ModelConfig):
    """The shared hyperparameters; Llama needs nothing more."""

    family: str = NAME


class GQAAttention(Mixer):
    """Multi-head attention with ``n_kv`` shared KV heads and a growing KV cache.

    Keys are cached after RoPE (the harness contract), so past keys are never
    re-rotated.  ``qk_norm`` adds per-head RMSNorm on queries and keys before
    RoPE (used by Doge; off for Llama).
    """

    def __init__(self, config: ModelConfig, qk_norm: bool = False):
        super().__init__()
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = config.head_dim
        hidden = config.hidden_size
        self.q_proj = nn.Linear(hidden, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, self.n_kv * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, self.n_kv * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, hidden, bias=False)
        self.q_norm = RMSNorm(self.head_dim, config.rms_norm_eps) if qk_norm else None
        self.k_norm = RMSNorm(self.head_dim, config.rms_norm_eps) if qk_norm else None
        self.rotary = RotaryEmbedding(self.head_dim, config.rope_theta)

    def _heads(self, x: torch.Tensor, n: int, norm) -> torch.Tensor:
        """[B, T, n*D] → [B, n, T, D], with the optional per-head norm."""
        x = x.reshape(x.shape[0], x.shape[1], n, self.head_dim)
        if norm is not None:
            x = norm(x)
        return x.transpose(1, 2)

    def attention_bias(self, ctx: Context, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Additive bias broadcastable to [B, H, Tq, Tk]: causal + padding.

        Subclasses override this to add content-dependent masking (DMA).
        ``key``/``value`` are the full (past + current) cache tensors.
        """
        return ctx.additive_bias()

    def forward(self, x: torch.Tensor, ctx: Context, past: State) -> Tuple[torch.Tensor, State]:
        past_key, past_value = past
        cos, sin = ctx.rope(self.rotary)
        q = apply_rope(self._heads(self.q_proj(x), self.n_heads, self.q_norm), cos, sin)
        k = apply_rope(self._heads(self.k_proj(x), self.n_kv, self.k_norm), cos, sin)
        v = self._heads(self.v_proj(x), self.n_kv, None)
        key = torch.cat((past_key, k), dim=2)
        value = torch.cat((past_value, v), dim=2)
        groups = self.n_heads // self.n_kv
        bias = self.attention_bias(ctx, key, value)
        out = masked_attention(q, repeat_kv(key, groups), repeat_kv(value, groups), bias)
        return self.o_proj(out), (key, value)

    def cache_specs(self) -> List[CacheSpec]:
        return kv_specs(self.n_kv, self.head_dim)

    def describe(self) -> Dict[str, object]:
        return {"kind": "gqa", "n_kv": self.n_kv, "head_dim": self.head_dim}


def default_config(seed: int) -> LlamaConfig:
    """The tiny fixture configuration."""
    return LlamaConfig(seed=seed)


def build_model(config: LlamaConfig) -> CausalLM:
    """A randomly initialised model, a pure function of ``config.seed``."""
    blocks = [
        DecoderBlock(
            GQAAttention(config),
            SwiGLU(config.hidden_size, config.intermediate_size),
            config.hidden_size,
            config.rms_norm_eps,
        )
        for _ in range(config.num_hidden_layers)
    ]
    model = CausalLM(config, blocks)
    seeded_init(model, torch.Generator().manual_seed(config.seed))
    return model.eval()
