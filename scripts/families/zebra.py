"""Zebra-Llama: a hybrid of MLA and Mamba2 layers built from a GQA teacher (arXiv 2505.17272).

Layers listed in ``mla_layers`` become MLA with X-EcoMLA's SVD init (``xecomla.convert_layer``);
every other layer becomes a Mamba2 mixer initialised from the same layer's attention
(``mamba2.init_from_attention``: x <- v_proj, B <- k_proj, C <- q_proj, out_proj <- o_proj).
Embeddings, norms, MLPs and the LM head are the teacher's.

Cache: the MLA layers grow (c_kv + k_pe per token), the Mamba2 layers hold a fixed state:
    bytes/token       = sum_MLA (r_kv + d_r) * s
    fixed bytes/seq   = sum_Mamba2 (conv_dim * d_conv + nheads * headdim * d_state) * s
The ONNX export runs MLA absorbed and Mamba2 by chunked SSD; the PyTorch reference runs MLA
expanded and Mamba2 token by token, so the parity suite checks both equivalences at once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch

from . import mamba2, mla, xecomla
from .common import CausalLM
from .llama import LlamaConfig

FORMULA = "sum_MLA (r_kv + d_r) * s"
FIXED_FORMULA = mamba2.FIXED_FORMULA


@dataclass
class ZebraConfig:
    mla_layers: List[int] = field(default_factory=lambda: [0, 2])
    kv_lora_rank: int = 16
    qk_rope_head_dim: int = 8
    q_lora_rank: Optional[int] = 48
    mamba_chunk: int = 8


@torch.no_grad()
def convert(teacher: CausalLM, tcfg: LlamaConfig, zcfg: ZebraConfig, generator: torch.Generator):
    """The teacher turned hybrid; returns (model, per-layer MLAConfig or Mamba2Config)."""
    model = copy.deepcopy(teacher)
    cfgs: List[object] = []
    for i, layer in enumerate(model.layers):
        attn = teacher.layers[i].mixer
        if i in zcfg.mla_layers:
            layer.mixer = xecomla.convert_layer(
                attn, tcfg, zcfg.qk_rope_head_dim, zcfg.q_lora_rank, kv_lora_rank=zcfg.kv_lora_rank,
            )
        else:
            mcfg = mamba2.Mamba2Config.from_attention(
                tcfg.hidden_size, tcfg.num_attention_heads, tcfg.num_key_value_heads, tcfg.head_dim,
                chunk=zcfg.mamba_chunk,
            )
            layer.mixer = mamba2.Mamba2Mixer(mcfg)
            mamba2.init_from_attention(layer.mixer, attn, generator)
        cfgs.append(layer.mixer.cfg)
    return model.eval(), cfgs


def set_export(model: CausalLM, export: bool) -> None:
    """Export forms (MLA absorbed, Mamba2 SSD) or reference forms (expanded, recurrent)."""
    mla.set_form(model, "absorbed" if export else "expanded")
    mamba2.set_mode(model, "ssd" if export else "recurrent")


def layer_layout(cfgs: Sequence[object]) -> list:
    return [
        mla.layer_entry(i, c) if isinstance(c, mla.MLAConfig) else mamba2.layer_entry(i, c)
        for i, c in enumerate(cfgs)
    ]


def config_entry(tcfg: LlamaConfig, zcfg: ZebraConfig, cfgs: Sequence[object]) -> dict:
    d = vars(tcfg).copy()
    d["mla_layers"] = list(zcfg.mla_layers)
    d["layers"] = [
        dict(kind="mla", **mla.config_entry(c)) if isinstance(c, mla.MLAConfig)
        else dict(kind="mamba2", **{k: v for k, v in vars(c).items()})
        for c in cfgs
    ]
    return d


def expected_cache(cfgs: Sequence[object], bytes_per_element: int):
    """(bytes/token, fixed bytes) from the formulas above, independent of the declared shapes."""
    per_token = sum(c.kv_lora_rank + c.qk_rope_head_dim for c in cfgs if isinstance(c, mla.MLAConfig))
    fixed = sum(c.fixed_state_elements() for c in cfgs if isinstance(c, mamba2.Mamba2Config))
    return per_token * bytes_per_element, fixed * bytes_per_element
