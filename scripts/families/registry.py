"""How each family's model is made from a Llama teacher, in one place: every script that writes a
model of a family (make_fixtures.py, train_zoo.py, export_checkpoint.py) asks ``FAMILIES`` for it and
gets the model with what its model directory says about it. A new family is one module and one entry
here.

A script adds its own keys to ``config.json`` (the teacher it used, the conversion's settings and
notes) around ``Built.entries``, which hold what the family itself records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

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


LOSSY = "lossy initialisation: fine-tune or distil from the original before trusting accuracy"


@dataclass(frozen=True)
class Conversion:
    """How a family is made from a user's checkpoint (``export_checkpoint.py``): the options it takes
    (argparse names), those it can't do without, and ``convert(teacher, cfg, options, seed)`` →
    (the built model, what config.json records of the conversion or None, the name's suffix)."""

    options: Tuple[str, ...]
    required: Tuple[str, ...]
    convert: Callable[[CausalLM, llama.LlamaConfig, dict, int], Tuple[Built, Optional[dict], str]]
    #: Whether ``Built.entries`` is the whole config.json (Zebra's layout) rather than added to the Llama fields.
    whole_config: bool = False


def _llama(teacher, cfg, o, seed):
    return as_llama(teacher, cfg), None, ""


def _dma(teacher, cfg, o, seed):
    window = o["keep_window"] if o["keep_window"] is not None else cfg.max_position_embeddings
    record = {"A": 0, "dt_proj": f"randn/sqrt(fan_in), seed {seed}"}
    return as_dma(teacher, cfg, window, seed), record, f"-dma-w{window}"


def _transmla(teacher, cfg, o, seed):
    conv = {"kv_lora_rank": o["kv_lora_rank"], "d_r": o["rope_dim"], "freqfold": o["freqfold"] or 1,
            "balance": True, "calib_seed": seed}
    record = dict(conv, calibration="8 x 64 random ids", note=LOSSY)
    return as_transmla(teacher, cfg, **conv), record, f"-transmla-r{o['kv_lora_rank']}-d{o['rope_dim']}"


def _xecomla(teacher, cfg, o, seed):
    layers = o["mla_layers"] if o["mla_layers"] is not None else list(range(cfg.num_hidden_layers))
    conv = {"mla_layers": layers, "d_r": o["rope_dim"], "q_lora_rank": o["q_lora_rank"],
            "kv_energy": o["kv_energy"], "kv_lora_rank": o["kv_lora_rank"]}
    rank = f"r{o['kv_lora_rank']}" if o["kv_lora_rank"] is not None else f"e{o['kv_energy']:g}"
    return as_xecomla(teacher, cfg, **conv), dict(conv, note=LOSSY), f"-xecomla-{rank}-d{o['rope_dim']}"


def _zebra(teacher, cfg, o, seed):
    zcfg = zebra.ZebraConfig(mla_layers=o["mla_layers"], kv_lora_rank=o["kv_lora_rank"],
                             qk_rope_head_dim=o["rope_dim"], q_lora_rank=o["q_lora_rank"])
    built = as_zebra(teacher, cfg, zcfg, torch.Generator().manual_seed(seed))
    n_mla = len([i for i in o["mla_layers"] if i < cfg.num_hidden_layers])
    suffix = f"-zebra-{n_mla}mla{cfg.num_hidden_layers - n_mla}m2-r{o['kv_lora_rank']}"
    return built, {"mamba2_init_seed": seed, "note": LOSSY}, suffix


CONVERSIONS: Dict[str, Conversion] = {
    "llama": Conversion((), (), _llama),
    "transmla": Conversion(("kv_lora_rank", "rope_dim", "freqfold"), ("kv_lora_rank", "rope_dim"), _transmla),
    "xecomla": Conversion(("kv_lora_rank", "kv_energy", "rope_dim", "q_lora_rank", "mla_layers"), ("rope_dim",),
                          _xecomla),
    "zebra": Conversion(("kv_lora_rank", "rope_dim", "q_lora_rank", "mla_layers"),
                        ("kv_lora_rank", "rope_dim", "mla_layers"), _zebra, whole_config=True),
    "dma": Conversion(("keep_window",), (), _dma),
}
"""Each family as ``export_checkpoint.py`` makes it from a Llama checkpoint; a new family is its module,
its ``FAMILIES`` maker and an entry here."""
