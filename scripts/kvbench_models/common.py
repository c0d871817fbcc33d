"""Building blocks shared by every tiny model family.

The pieces here are deliberately plain PyTorch so that the same module runs
eagerly (to produce reference logits) and traces cleanly through the legacy
``torch.onnx.export`` (to produce the graph the harness runs).  Two rules keep
the trace faithful:

* every length is read from tensor shapes (``x.shape[i]`` is a traced value
  during export), never from Python ints, so nothing is frozen at the sizes
  used for tracing;
* masking uses ``masked_fill``/``where`` with the dtype minimum instead of
  adding ``-inf``, so rows with no visible key (left padding) give a uniform
  softmax instead of NaN, exactly as Hugging Face models do.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

State = Tuple[torch.Tensor, ...]
"""The state tensors one layer reads (past) or returns (present)."""

SEQ = "seq"
"""Placeholder in :class:`CacheSpec` dims for the axis that grows per token."""


@dataclasses.dataclass
class ModelConfig:
    """Hyperparameters common to all families; families subclass to add theirs.

    ``init_std`` is larger than a trained model's 0.02 on purpose: with random
    weights, 0.02 gives near-zero logits and a 1e-4 comparison would be
    meaningless.  ``norm_jitter`` perturbs norm weights away from 1 so that a
    runtime that forgot a norm weight would be caught by the references.
    """

    family: str
    vocab_size: int = 512
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    intermediate_size: int = 128
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    max_length: int = 256
    tie_word_embeddings: bool = False
    init_std: float = 0.1
    norm_jitter: float = 0.1
    seed: int = 1234

    def to_json(self) -> Dict[str, object]:
        """The config as written to config.json (HF-style names where they exist)."""
        data = dataclasses.asdict(self)
        data["max_position_embeddings"] = self.max_length
        data["torch_dtype"] = "float32"
        return data


@dataclasses.dataclass(frozen=True)
class CacheSpec:
    """One state tensor of a layer, without the batch axis.

    ``dims`` holds ints and at most one :data:`SEQ` marking the axis that grows
    with every token (KV caches, MLA latents).  A spec without :data:`SEQ` is a
    fixed-size state (Mamba conv/SSM states).  ``past_name``/``present_name``
    are the graph names *without* the layer index so families can follow
    whatever convention the harness pairs (``past_key_values.{i}.key`` ↔
    ``present.{i}.key``; ``past_conv.{i}`` ↔ ``present_conv.{i}``).
    """

    past_name: str
    present_name: str
    dims: Tuple[Union[int, str], ...]

    @property
    def seq_axis(self) -> Optional[int]:
        """Axis of the growing dimension in the full (batched) tensor, or None."""
        for axis, dim in enumerate(self.dims):
            if dim == SEQ:
                return axis + 1
        return None

    def elements_per_unit(self) -> int:
        """Elements per token (growing) or per sequence (fixed), batch excluded."""
        return math.prod(int(d) for d in self.dims if d != SEQ)

    def shape(self, batch: int, length: int) -> List[int]:
        """Concrete shape for ``batch`` rows holding ``length`` tokens."""
        return [batch] + [length if d == SEQ else int(d) for d in self.dims]


def kv_specs(n_kv: int, head_dim: int) -> List[CacheSpec]:
    """The standard ``past_key_values.{i}.key/value`` pair of a GQA cache."""
    dims = (n_kv, SEQ, head_dim)
    return [
        CacheSpec("past_key_values.{i}.key", "present.{i}.key", dims),
        CacheSpec("past_key_values.{i}.value", "present.{i}.value", dims),
    ]


class RMSNorm(nn.Module):
    """Root-mean-square norm over the last axis, computed in float32."""

    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x.float() * torch.rsqrt(variance + self.eps)).to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Standard Llama rotate-half RoPE: cos/sin tables from explicit positions.

    Positions come from the ``position_ids`` input rather than from cache
    offsets because the harness computes them from the attention mask (left
    padding makes them differ per row).
    """

    def __init__(self, dim: int, theta: float):
        super().__init__()
        exponent = torch.arange(0, dim, 2, dtype=torch.float32) / dim
        self.register_buffer("inv_freq", 1.0 / (theta ** exponent), persistent=False)
        self.dim = dim
        self.theta = theta

    def forward(self, position_ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns cos, sin of shape [B, 1, T, dim] ready to broadcast over heads."""
        freqs = position_ids.float()[:, :, None] * self.inv_freq[None, None, :]
        angles = torch.cat((freqs, freqs), dim=-1)
        return angles.cos()[:, None], angles.sin()[:, None]


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Maps (x1, x2) halves to (-x2, x1), the rotation partner in RoPE."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotates ``x`` [B, H, T, D] by the angles in cos/sin [B, 1, T, D]."""
    return x * cos + rotate_half(x) * sin


class SwiGLU(nn.Module):
    """Llama MLP: down(silu(gate(x)) * up(x)), no biases."""

    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Repeats each KV head ``groups`` times along axis 1 (GQA → per query head).

    Written as expand + reshape rather than ``repeat_interleave`` because the
    latter exports to a much larger, shape-fragile ONNX subgraph in torch 1.13.
    """
    if groups == 1:
        return x
    b, n, t, d = x.shape
    return x[:, :, None].expand(b, n, groups, t, d).reshape(b, n * groups, t, d)


def masked_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """softmax(q kᵀ / sqrt(d) + bias) v with heads already matched.

    ``bias`` is additive and broadcastable to [B, H, Tq, Tk]; masked entries
    hold the dtype minimum.  Returns [B, Tq, H * D].
    """
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    probs = torch.softmax(scores + bias, dim=-1)
    out = torch.matmul(probs, v)
    return out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)


class Context:
    """Per-forward inputs every layer may need, computed once and memoised.

    ``attention_mask`` is [B, T_total] (past + current, 1 = real token); the
    current chunk is its last ``q_len`` columns.  Layers take what they need:
    attention layers the boolean ``allowed`` matrix (causal ∧ key is real),
    RoPE layers ``rope(rotary)``, recurrent layers the raw chunk mask.
    """

    def __init__(self, attention_mask: torch.Tensor, position_ids: torch.Tensor, dtype: torch.dtype):
        self.attention_mask = attention_mask
        self.position_ids = position_ids
        self.dtype = dtype
        self.min_value = torch.finfo(dtype).min
        self._allowed: Optional[torch.Tensor] = None
        self._rope: Dict[Tuple[int, float], Tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def q_len(self):
        return self.position_ids.shape[1]

    @property
    def chunk_mask(self) -> torch.Tensor:
        """Mask of the current chunk's tokens, [B, q_len]."""
        return self.attention_mask[:, self.attention_mask.shape[1] - self.q_len:]

    @property
    def allowed(self) -> torch.Tensor:
        """Bool [B, 1, q_len, T_total]: key j visible to query i.

        Query i of the chunk sits at cache slot ``past_len + i``; it sees slots
        up to and including itself whose mask is 1.  Causality is on cache
        slots, not on position ids, which is what left padding requires.
        """
        if self._allowed is None:
            total = self.attention_mask.shape[1]
            key_slot = torch.arange(total, device=self.attention_mask.device)
            query_slot = torch.arange(self.q_len, device=self.attention_mask.device) + (total - self.q_len)
            causal = key_slot[None, :] <= query_slot[:, None]
            real = self.attention_mask[:, None, None, :] != 0
            self._allowed = causal[None, None] & real
        return self._allowed

    def additive_bias(self) -> torch.Tensor:
        """``allowed`` as 0 / dtype-min, [B, 1, q_len, T_total]."""
        zero = torch.zeros((), dtype=self.dtype)
        return torch.where(self.allowed, zero, torch.full((), self.min_value, dtype=self.dtype))

    def rope(self, rotary: RotaryEmbedding) -> Tuple[torch.Tensor, torch.Tensor]:
        """cos/sin for this forward's positions, shared by layers with equal tables."""
        key = (rotary.dim, rotary.theta)
        if key not in self._rope:
            self._rope[key] = rotary(self.position_ids)
        return self._rope[key]


class Mixer(nn.Module):
    """Interface of a sequence-mixing layer (attention, MLA, Mamba2, …).

    A family implements ``forward``, ``cache_specs`` and ``describe``; the
    decoder block, the model, the export wrapper and the sidecar only talk to a
    mixer through these three.
    """

    def forward(self, x: torch.Tensor, ctx: Context, past: State) -> Tuple[torch.Tensor, State]:
        """Mixes ``x`` [B, T, hidden]; returns the output and the present state
        tensors in the order of :meth:`cache_specs`."""
        raise NotImplementedError

    def cache_specs(self) -> List[CacheSpec]:
        """The layer's state tensors, in the order forward takes and returns them."""
        raise NotImplementedError

    def describe(self) -> Dict[str, object]:
        """The sidecar entry for this layer (``kind`` plus its cache geometry)."""
        raise NotImplementedError


class DecoderBlock(nn.Module):
    """Pre-norm residual block: x + mixer(norm(x)), then h + mlp(norm(h)).

    ``residual_scale`` adds learned per-channel weights on the residual path
    (``w * residual + update``), as Doge does; other families leave it off.
    """

    def __init__(self, mixer: Mixer, mlp: nn.Module, hidden: int, eps: float, residual_scale: bool = False):
        super().__init__()
        self.input_layernorm = RMSNorm(hidden, eps)
        self.mixer = mixer
        self.post_attention_layernorm = RMSNorm(hidden, eps)
        self.mlp = mlp
        if residual_scale:
            self.input_residual = nn.Parameter(torch.ones(hidden))
            self.post_attention_residual = nn.Parameter(torch.ones(hidden))
        else:
            self.input_residual = None
            self.post_attention_residual = None

    def forward(self, x: torch.Tensor, ctx: Context, past: State) -> Tuple[torch.Tensor, State]:
        update, present = self.mixer(self.input_layernorm(x), ctx, past)
        h = x * self.input_residual + update if self.input_residual is not None else x + update
        update = self.mlp(self.post_attention_layernorm(h))
        out = h * self.post_attention_residual + update if self.post_attention_residual is not None else h + update
        return out, present


class CausalLM(nn.Module):
    """Embedding → blocks → final norm → LM head, with explicit state in and out."""

    def __init__(self, config: ModelConfig, blocks: Sequence[DecoderBlock]):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(blocks)
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def cache_specs(self) -> List[List[CacheSpec]]:
        """Per layer, the layer's state tensors."""
        return [block.mixer.cache_specs() for block in self.layers]

    def empty_state(self, batch: int) -> List[State]:
        """Zero-length growing tensors and zeroed fixed states: a fresh sequence."""
        return [
            tuple(torch.zeros(spec.shape(batch, 0)) for spec in specs)
            for specs in self.cache_specs()
        ]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        past: Sequence[State],
    ) -> Tuple[torch.Tensor, List[State]]:
        x = self.embed_tokens(input_ids)
        ctx = Context(attention_mask, position_ids, x.dtype)
        presents: List[State] = []
        for block, layer_past in zip(self.layers, past):
            x, present = block(x, ctx, layer_past)
            presents.append(present)
        return self.lm_head(self.norm(x)), presents


def seeded_init(model: CausalLM, generator: torch.Generator) -> None:
    """Fills every parameter from ``generator`` in a fixed (registration) order.

    Matrices get N(0, init_std); 1-D parameters (norm and residual weights)
    get 1 + N(0, norm_jitter).  Mixers needing something else (Doge's A,
    dt_proj) define ``custom_init(generator)``, called afterwards in module
    order, so the whole model is a pure function of the seed.
    """
    config = model.config
    with torch.no_grad():
        for _, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if param.dim() == 1:
                param.copy_(1.0 + config.norm_jitter * noise)
            else:
                param.copy_(config.init_std * noise)
        for module in model.modules():
            custom = getattr(module, "custom_init", None)
            if custom is not None:
                custom(generator)
