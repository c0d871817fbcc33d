"""Models trained with MLA from the start, in DeepSeek-V2/V3's layout: every layer is MLA (``mla.py``)
with the latent's RMSNorm (and the query's, when it has a low-rank query), and every layer from
``first_k_dense_replace`` on has a DeepSeekMoE MLP (``moe.py``) instead of a dense one (a SwiGLU, or
PLM's ReLU² MLP).

The cache is the compressed one, c_kv [B, 1, T, r_kv] + k_pe [B, 1, T, d_r] per layer: 576
elements a token and layer for DeepSeek-V2-Lite and V3 (r_kv 512 + d_r 64). ``hf_mla.py``
imports checkpoints into this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from . import mla
from .common import CausalLM
from .moe import MoEConfig, moe_or_dense

FORMULA = "L · (r_kv + d_r) · s"


@dataclass
class DeepSeekConfig:
    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    q_lora_rank: Optional[int] = None
    kv_lora_rank: int = 16
    qk_nope_head_dim: int = 8
    qk_rope_head_dim: int = 8
    v_head_dim: int = 8
    rope_theta: float = 10000.0
    rope_scaling: Optional[dict] = None
    rms_norm_eps: float = 1e-6
    # transformers builds the latent's and the query's norms with their default eps, not rms_norm_eps.
    latent_norm_eps: float = 1e-6
    max_position_embeddings: int = 256
    first_k_dense_replace: int = 1
    moe: Optional[MoEConfig] = field(default_factory=MoEConfig)
    # The dense MLP: "silu" (SwiGLU; DeepSeek, MiniCPM3) or "relu2" (PLM's ungated ReLU²).
    hidden_act: str = "silu"

    def mla(self) -> mla.MLAConfig:
        return mla.MLAConfig(
            hidden_size=self.hidden_size, num_attention_heads=self.num_attention_heads,
            kv_lora_rank=self.kv_lora_rank, qk_rope_head_dim=self.qk_rope_head_dim,
            qk_nope_head_dim=self.qk_nope_head_dim, v_head_dim=self.v_head_dim, q_lora_rank=self.q_lora_rank,
            q_a_layernorm=self.q_lora_rank is not None, kv_a_layernorm=True, rope_theta=self.rope_theta,
            rope_scaling=self.rope_scaling, rms_norm_eps=self.latent_norm_eps,
        )


def build(cfg: DeepSeekConfig) -> CausalLM:
    """The model, MLA layers in their graph (absorbed) form."""
    if cfg.moe is not None and cfg.moe.hidden_size != cfg.hidden_size:
        raise ValueError(f"the MoE's hidden size {cfg.moe.hidden_size} differs from the model's {cfg.hidden_size}")
    mixers = [mla.MLAttention(cfg.mla()) for _ in range(cfg.num_hidden_layers)]
    mlps = [moe_or_dense(i, cfg.first_k_dense_replace, cfg.hidden_size, cfg.intermediate_size, cfg.moe,
                         cfg.hidden_act) for i in range(cfg.num_hidden_layers)]
    return CausalLM(cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, mixers, cfg.rms_norm_eps, mlps)


def layer_layout(cfg: DeepSeekConfig) -> List[dict]:
    """kvbench.json's ``layers``: each MLA layer's entry, and whether its MLP is a MoE."""
    moe_from = cfg.first_k_dense_replace if cfg.moe is not None else cfg.num_hidden_layers
    return [dict(mla.layer_entry(i, cfg.mla()), mlp="moe" if i >= moe_from else "dense")
            for i in range(cfg.num_hidden_layers)]


def config_entry(cfg: DeepSeekConfig) -> dict:
    """config.json's fields (the MoE's nested under ``moe``)."""
    out = {k: v for k, v in vars(cfg).items() if k != "moe"}
    out["moe"] = vars(cfg.moe).copy() if cfg.moe is not None else None
    return out
