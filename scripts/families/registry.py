"""How each family's model is made from a Llama teacher, in one place: every script that writes a
model of a family (make_fixtures.py, train_zoo.py, export_checkpoint.py) asks ``FAMILIES`` for it and
gets the model with what its model directory says about it. A new family is one module and one entry
here.

A script adds its own keys to ``config.json`` (the teacher it used, the conversion's settings and
notes) around ``Built.entries``, which hold what the family itself records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
from torch import nn

from . import dma, llama, mla, transmla, xecomla, zebra
from .common import CausalLM

GQA_FORMULA = "2 * L * n_kv * d_h * s"


@dataclass
class Built:
    """A family's model and what its model directory records of it."""

    model: CausalLM
    #: What config.json adds to the Llama fields (the MLA layers' settings; Zebra's whole layout).
    entries: dict
    #: kvbench.json's ``layers``.
    layers: list
    #: kvbench.json's ``cache.bytes_per_token_formula``.
    formula: str
    #: Switches the model to the form its reference logits come from (True) or its graph's (False).
    forms: Optional[Callable[[nn.Module, bool], None]] = None
    #: Each converted layer's config (``MLAConfig``, ``Mamba2Config``; None for a layer kept as GQA).
    layer_configs: Optional[list] = None


def mla_forms(model: nn.Module, reference: bool) -> None:
    """The graph runs MLA absorbed; the reference logits come from the expanded form."""
    mla.set_form(model, "expanded" if reference else "absorbed")


def zebra_forms(model: nn.Module, reference: bool) -> None:
    """The graph runs MLA absorbed and Mamba2 as chunked SSD; the reference, expanded and recurrent."""
    zebra.set_export(model, not reference)


def as_llama(teacher: CausalLM, cfg: llama.LlamaConfig) -> Built:
    """The teacher itself."""
    return Built(teacher, {}, llama.layer_layout(cfg), GQA_FORMULA)


@torch.no_grad()
def as_dma(teacher: CausalLM, cfg: llama.LlamaConfig, keep_window: int, seed: int) -> Built:
    """The teacher's weights in DMA layers whose mask starts neutral: A = 0 gives the gate
    exp(0) = 1 for every visible key, a constant shift that the softmax ignores. dt_proj gets a
    small random init (not zero) so that, once A moves in training, keys get different gates."""
    fields = {f: getattr(cfg, f) for f in llama.LlamaConfig.__dataclass_fields__}
    dcfg = dma.DMAConfig(**fields, keep_window=keep_window)
    if cfg.rope_scaling is not None:
        dcfg.rope_scaling = cfg.rope_scaling
    model = dma.build(dcfg)
    result = model.load_state_dict(teacher.state_dict(), strict=False)
    new = {n for n, _ in model.named_parameters() if n.endswith((".dt_proj.weight", ".A"))}
    assert set(result.missing_keys) == new and not result.unexpected_keys, result
    g = torch.Generator().manual_seed(seed)
    for layer in model.layers:
        w = layer.mixer.dt_proj.weight
        w.copy_(torch.randn(w.shape, generator=g) / w.shape[1] ** 0.5)
        layer.mixer.A.zero_()
    return Built(model.eval(), {"keep_window": keep_window}, dma.layer_layout(dcfg), dma.FORMULA)


def as_transmla(teacher: CausalLM, cfg: llama.LlamaConfig, **conversion) -> Built:
    """TransMLA's conversion (``transmla.convert``) of every layer."""
    model, cfgs = transmla.convert(teacher, cfg, **conversion)
    return Built(model, {"mla": [mla.config_entry(c) for c in cfgs]},
                 [mla.layer_entry(i, c) for i, c in enumerate(cfgs)], mla.FORMULA, mla_forms, cfgs)


def as_xecomla(teacher: CausalLM, cfg: llama.LlamaConfig, **conversion) -> Built:
    """X-EcoMLA's SVD initialisation (``xecomla.convert``) of the chosen layers; GQA elsewhere."""
    model, cfgs = xecomla.convert(teacher, cfg, **conversion)
    return Built(model, {"mla": [mla.config_entry(c) if c else None for c in cfgs]},
                 xecomla.layer_layout(cfg, cfgs), mla.FORMULA, mla_forms, cfgs)


def as_zebra(teacher: CausalLM, cfg: llama.LlamaConfig, zcfg: zebra.ZebraConfig, generator: torch.Generator) -> Built:
    """Zebra-Llama (``zebra.convert``): MLA at ``zcfg.mla_layers``, Mamba2 elsewhere."""
    model, cfgs = zebra.convert(teacher, cfg, zcfg, generator)
    return Built(model, zebra.config_entry(cfg, zcfg, cfgs), zebra.layer_layout(cfgs), zebra.FORMULA, zebra_forms,
                 cfgs)


FAMILIES: Dict[str, Callable[..., Built]] = {
    "llama": as_llama,
    "dma": as_dma,
    "transmla": as_transmla,
    "xecomla": as_xecomla,
    "zebra": as_zebra,
}
"""Each family's maker: ``FAMILIES[name](teacher, cfg, **options)``."""
