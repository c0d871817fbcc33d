"""Dynamic Mask Attention (the Doge family, in-library ``transformers`` variant).

Attention is plain GQA with RoPE and the same K/V cache as Llama; what changes is an additive
mask derived from the values. Per KV head a gate ``exp(A * softplus(dt_proj(V_flat)))`` is
computed for every cached key (V_flat = that token's values of all KV heads, concatenated),
broadcast over the queries; causal and padded keys get the dtype minimum; then each (row, head,
query) keeps only its ``keep_window`` keys with the largest mask value and the others get the
minimum too. The mask is repeated to the query heads and added to QK^T / sqrt(d_h).

The gate is recomputed from the cached V on every step, so the cache holds nothing extra:
bytes/token = 2 * L * n_kv * d_h * s, exactly as for the baseline.

The top-k count is ``min(keep_window, T)`` read off a tensor shape (the length of the key axis
cut to ``keep_window``), never a Python ``if`` on the length: a trace would freeze such a branch,
and a constant K would make the exported TopK fail (or keep too few keys) at other lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .common import CausalLM, StepContext, repeat_kv
from .gate_lanes import widen_gates
from .llama import GQAttention, LlamaConfig


@dataclass
class DMAConfig(LlamaConfig):
    keep_window: int = 8


class DynamicMaskAttention(GQAttention):
    """GQA whose score bias is the Doge dynamic mask; A and dt_proj are per KV head.

    Its exports compute the gate over 16 lanes (``gate_lanes``), so that ONNX Runtime's CPU
    kernels give a row the same gate in any batch.
    """

    rewrite_onnx = staticmethod(widen_gates)
    # The dynamic mask is a per-head float bias over top-k keys, which the fused Attention op's
    # one shared mask can't carry: DMA exports stay traced.
    fused = None

    def __init__(self, cfg: DMAConfig):
        super().__init__(cfg)
        kv, d = cfg.num_key_value_heads, cfg.head_dim
        self.dt_proj = nn.Linear(kv * d, kv, bias=False)
        # transformers initialises A to zero (gate == 1 everywhere); the fixture's init gives it
        # non-zero values so the mask, and the choice of the kept keys, changes the logits.
        self.A = nn.Parameter(torch.zeros(kv))

    def gate(self, v_all: torch.Tensor) -> torch.Tensor:
        """[B, n_kv, T, d_h] cached values -> gate [B, n_kv, T], one value per key and KV head."""
        b, n, t, d = v_all.shape
        flat = v_all.transpose(1, 2).reshape(b, t, n * d)
        dt = self.dt_proj(flat)  # [B, T, n_kv]
        return torch.exp(self.A * F.softplus(dt)).transpose(1, 2)

    def dynamic_mask(self, ctx: StepContext, v_all: torch.Tensor) -> torch.Tensor:
        """The mask per KV head, [B, n_kv, S, T], before repetition to the query heads."""
        gate = self.gate(v_all)
        low = torch.full((), torch.finfo(gate.dtype).min, dtype=gate.dtype)
        visible = ctx.bias == 0  # [B, 1, S, T]: the causal + padding mask is exactly 0 or min
        mask = torch.where(visible, gate[:, :, None, :], low)  # [B, n_kv, S, T]
        # k = min(keep_window, T), taken from a shape so the exported TopK follows the length.
        k = mask[..., : self.cfg.keep_window].shape[-1]
        _, kept = torch.topk(mask, k, dim=-1)
        keep = torch.zeros_like(mask).scatter(-1, kept, 1.0)
        return torch.where(keep > 0, mask, low)

    def scores_bias(self, ctx: StepContext, k_all, v_all):
        groups = self.cfg.num_attention_heads // self.cfg.num_key_value_heads
        return repeat_kv(self.dynamic_mask(ctx, v_all), groups)


def build(cfg: DMAConfig) -> CausalLM:
    mixers = [DynamicMaskAttention(cfg) for _ in range(cfg.num_hidden_layers)]
    return CausalLM(cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, mixers, cfg.rms_norm_eps)


def layer_layout(cfg: DMAConfig):
    return [
        {
            "index": i,
            "kind": "dma",
            "n_kv": cfg.num_key_value_heads,
            "head_dim": cfg.head_dim,
            "keep_window": cfg.keep_window,
        }
        for i in range(cfg.num_hidden_layers)
    ]


FORMULA = "2 * L * n_kv * d_h * s"
