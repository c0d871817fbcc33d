"""Pieces shared by every family: norms, RoPE, the MLP, masks and the decoder skeleton.

A mixer module owns one layer's token mixing and its state. The contract every mixer follows:
  - ``states(layer, batch)`` -> list of ``StateDecl`` (names, symbolic shape, empty tensor);
  - ``forward(x, ctx, past)`` -> (y, present), with ``past``/``present`` lists in ``states`` order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import torch
from torch import nn

Dim = Union[int, str]


@dataclass
class StateDecl:
    """One state tensor of a layer as the graph exposes it."""

    past: str  # graph input name
    present: str  # graph output name
    shape: List[Dim]  # symbolic dims: "batch_size", "past_sequence_length" (growing axis)
    growing: bool

    def empty(self, batch: int, dtype=torch.float32) -> torch.Tensor:
        dims = []
        for d in self.shape:
            if d == "batch_size":
                dims.append(batch)
            elif isinstance(d, str):
                dims.append(0)
            else:
                dims.append(d)
        return torch.zeros(dims, dtype=dtype)


@dataclass
class StepContext:
    """What every mixer needs to know about the current chunk."""

    positions: torch.Tensor  # [B, S] int64
    key_mask: torch.Tensor  # [B, T] 1 = real token, over past + current slots
    token_mask: torch.Tensor  # [B, S] 1 = real token in the current chunk
    bias: torch.Tensor  # [B, 1, S, T] additive causal + padding mask
    extra: dict = field(default_factory=dict)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * self.weight


def rope_inv_freq(dim: int, theta: float, scaling: Optional[dict] = None) -> torch.Tensor:
    """Inverse frequency of each rotate-half pair, ``theta^(-2i/dim)``, in float32.

    ``scaling`` is a Hugging Face ``rope_scaling`` dict: Llama 3's ("rope_type": "llama3"), YaRN's
    ("yarn", DeepSeek-V2/V3; its cos/sin factor is ``yarn_attention_factor``) or LongRoPE's short
    factors ("longrope", MiniCPM3). It is the one hook
    for checkpoints whose RoPE differs from the plain formula, and every family's RoPE goes through
    here, so a converted model rotates exactly as its teacher did.
    """
    kind = None if scaling is None else scaling.get("rope_type", scaling.get("type"))
    if kind == "yarn":
        return yarn_inv_freq(dim, theta, scaling)
    if kind == "longrope":
        # Only the short factors: a checkpoint whose context outgrows original_max_position_embeddings
        # would switch to the long ones mid-sequence, which hf_mla refuses to import.
        short = torch.tensor(scaling["short_factor"], dtype=torch.float32)
        return 1.0 / (short * theta ** (torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float32) / dim))
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    if scaling is not None:
        inv_freq = llama3_scaled_inv_freq(inv_freq, scaling)
    return inv_freq


def yarn_inv_freq(dim: int, theta: float, scaling: dict) -> torch.Tensor:
    """YaRN (arXiv 2309.00071) as transformers computes it: each pair's frequency blends the original
    (extrapolation) and the original / ``factor`` (interpolation) by a linear ramp over the pairs
    whose wavelengths fall between ``beta_fast`` and ``beta_slow`` rotations of the original context."""
    factor = float(scaling["factor"])
    context = float(scaling["original_max_position_embeddings"])
    beta_fast, beta_slow = float(scaling.get("beta_fast") or 32), float(scaling.get("beta_slow") or 1)

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(context / (rotations * 2 * math.pi))) / (2 * math.log(theta))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = theta ** (torch.arange(0, dim, 2).to(dtype=torch.float32) / dim)
    extrapolation = 1 - ramp
    return (1.0 / (factor * pos_freqs)) * (1 - extrapolation) + (1.0 / pos_freqs) * extrapolation


def yarn_attention_factor(scaling: dict) -> float:
    """The factor YaRN multiplies cos and sin by: ``attention_factor`` if given, else
    mscale(factor, mscale) / mscale(factor, mscale_all_dim) with both, else mscale(factor)."""
    if scaling.get("attention_factor") is not None:
        return float(scaling["attention_factor"])
    factor = float(scaling["factor"])
    mscale, mscale_all_dim = scaling.get("mscale"), scaling.get("mscale_all_dim")
    if mscale and mscale_all_dim:
        return yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all_dim)
    return yarn_mscale(factor)


def yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    """YaRN's attention temperature: 0.1·mscale·ln(factor) + 1 (1 when the context isn't extended)."""
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def llama3_scaled_inv_freq(inv_freq: torch.Tensor, scaling: dict) -> torch.Tensor:
    """Llama 3.1's context extension: slow frequencies are divided by ``factor``, fast ones kept.

    With ``c`` = original_max_position_embeddings and wavelength ``w = 2π/f``: ``w < c/high`` keeps
    ``f``; ``w > c/low`` gives ``f/factor``; in between, ``s = (c/w - low)/(high - low)`` blends
    the two, ``(1 - s)·f/factor + s·f``. (``low``/``high`` = low_freq_factor/high_freq_factor.)
    """
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind != "llama3":
        raise ValueError(f"unsupported rope_scaling type {kind!r}: 'llama3' and 'yarn' are implemented")
    factor = float(scaling["factor"])
    low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
    context = float(scaling["original_max_position_embeddings"])
    wavelength = 2 * math.pi / inv_freq
    smooth = (context / wavelength - low) / (high - low)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    scaled = torch.where(wavelength > context / low, inv_freq / factor, blended)
    return torch.where(wavelength < context / high, inv_freq, scaled)


def rope_cos_sin(positions: torch.Tensor, dim: int, theta: float, scaling: Optional[dict] = None):
    """cos/sin [B, S, dim] for rotate-half RoPE at integer positions (``scaling``: see
    ``rope_inv_freq``)."""
    inv_freq = rope_inv_freq(dim, theta, scaling)
    freqs = positions.to(torch.float32).unsqueeze(-1) * inv_freq.to(positions.device)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, S, d]; cos/sin [B, S, d]."""
    return x * cos.unsqueeze(1) + rotate_half(x) * sin.unsqueeze(1)


class SwiGLU(nn.Module):
    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))

    def fused(self, g, x: str, name: str) -> str:
        """This MLP in ``fused.build``'s graph: gate and up as one product, SiLU as Sigmoid and Mul."""
        from .fused import matmul

        gate, up = matmul(g, x, [self.gate_proj, self.up_proj], f"{name}.gate_up")
        act = g.op1("Mul", [g.op1("Mul", [gate, g.op1("Sigmoid", [gate])]), up])
        return matmul(g, act, [self.down_proj], f"{name}.down")[0]


class ReluSquaredMLP(nn.Module):
    """PLM's MLP: down(relu(up(x))²), no gate."""

    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(torch.relu(self.up_proj(x)).square())

    def fused(self, g, x: str, name: str) -> str:
        """This MLP in ``fused.build``'s graph."""
        from .fused import matmul

        up = g.op1("Relu", [matmul(g, x, [self.up_proj], f"{name}.up")[0]])
        return matmul(g, g.op1("Mul", [up, up]), [self.down_proj], f"{name}.down")[0]


def attention_bias(key_mask: torch.Tensor, seq_len_like: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """Additive mask [B, 1, S, T]: a query sees keys at or before its slot that are real.

    Slots count past + current tokens; the current chunk occupies the last S slots. The
    minimum is finite so a row with no visible key (a pad query) gives a uniform softmax, not NaN.
    """
    total = key_mask.shape[1]
    seq = seq_len_like.shape[1]
    device = key_mask.device
    q_slot = torch.arange(seq, device=device).unsqueeze(1) + (total - seq)
    k_slot = torch.arange(total, device=device).unsqueeze(0)
    causal = (k_slot <= q_slot).unsqueeze(0).unsqueeze(0)  # [1, 1, S, T]
    visible = causal & (key_mask[:, None, None, :] > 0)
    zero = torch.zeros((), dtype=dtype, device=device)
    low = torch.full((), torch.finfo(dtype).min, dtype=dtype, device=device)
    return torch.where(visible, zero, low)


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """[B, n_kv, T, d] -> [B, n_kv * groups, T, d]."""
    if groups == 1:
        return x
    b, n, t, d = x.shape
    return x[:, :, None, :, :].expand(b, n, groups, t, d).reshape(b, n * groups, t, d)


def set_grouped_heads(model: nn.Module, on: bool = True) -> int:
    """Switches every attention layer of ``model`` that has the choice (GQA, DMA, absorbed MLA) to
    scoring the query heads that share a key/value cache as rows of one product with it; returns
    how many layers have the choice. The numbers are the same up to summation order; the graph
    no longer copies the cache per query head (GQA) or re-reads the latent per head (MLA)."""
    count = 0
    for m in model.modules():
        if hasattr(type(m), "grouped_heads"):
            m.grouped_heads = on
            count += 1
    return count


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """Deterministic init with ~unit-variance activations so logits are far from zero."""
    for name, p in sorted(module.named_parameters()):
        with torch.no_grad():
            if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=generator))
            elif p.dim() == 2:
                fan_in = p.shape[1]
                p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(fan_in))
            else:
                p.copy_(0.5 * torch.randn(p.shape, generator=generator))


class DecoderLayer(nn.Module):
    """Pre-norm block: ``mixer`` then ``mlp`` (a SwiGLU of ``intermediate`` unless one is given)."""

    def __init__(self, hidden: int, intermediate: int, mixer: nn.Module, eps: float, mlp: Optional[nn.Module] = None):
        super().__init__()
        self.input_layernorm = RMSNorm(hidden, eps)
        self.mixer = mixer
        self.post_attention_layernorm = RMSNorm(hidden, eps)
        self.mlp = mlp if mlp is not None else SwiGLU(hidden, intermediate)

    def forward(self, x, ctx: StepContext, past: Sequence[torch.Tensor]):
        y, present = self.mixer(self.input_layernorm(x), ctx, past)
        x = x + y
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, present


class CausalLM(nn.Module):
    """Embedding, a stack of decoder layers with per-layer mixers (and MLPs, SwiGLU unless given),
    final norm and LM head."""

    def __init__(self, vocab: int, hidden: int, intermediate: int, mixers: Sequence[nn.Module], eps: float,
                 mlps: Optional[Sequence[Optional[nn.Module]]] = None):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, hidden)
        mlps = list(mlps) if mlps is not None else [None] * len(mixers)
        self.layers = nn.ModuleList([DecoderLayer(hidden, intermediate, m, eps, mlp) for m, mlp in zip(mixers, mlps)])
        self.norm = RMSNorm(hidden, eps)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def state_decls(self) -> List[StateDecl]:
        decls: List[StateDecl] = []
        for i, layer in enumerate(self.layers):
            decls.extend(layer.mixer.states(i))
        return decls

    def empty_states(self, batch: int) -> List[torch.Tensor]:
        return [d.empty(batch) for d in self.state_decls()]

    def forward(self, input_ids, attention_mask, position_ids, past: Sequence[torch.Tensor],
                logits_to_keep: Optional[torch.Tensor] = None):
        """Returns (logits, present) with ``present`` flat in ``state_decls`` order.

        ``logits_to_keep`` (an int64 scalar tensor, as transformers' ``num_logits_to_keep``) keeps
        the logits of only the last k positions; 0 keeps all. Callers that need only the next
        token's distribution then skip the LM head over the rest of the chunk.
        """
        x = self.embed_tokens(input_ids)
        seq = input_ids.shape[1]
        token_mask = attention_mask[:, attention_mask.shape[1] - seq:]
        ctx = StepContext(
            positions=position_ids,
            key_mask=attention_mask,
            token_mask=token_mask,
            bias=attention_bias(attention_mask, input_ids),
        )
        present: List[torch.Tensor] = []
        k = 0
        for i, layer in enumerate(self.layers):
            n = len(layer.mixer.states(i))
            x, new = layer(x, ctx, list(past[k:k + n]))
            present.extend(new)
            k += n
        if logits_to_keep is not None:
            # Shapes as tensors, so the exported graph follows the runtime length and k.
            length = torch._shape_as_tensor(x)[1]
            start = torch.where(logits_to_keep > 0, length - logits_to_keep, torch.zeros_like(length))
            x = x.index_select(1, torch.arange(start, length))
        return self.lm_head(self.norm(x)), present
