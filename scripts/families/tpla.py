"""TPLA (Tensor-Parallel Latent Attention, arXiv 2508.15881 / ASPLOS '26), computed on one device:
every MLA layer's latent c_kv is cut into ``g`` slices, as g devices would each hold one; each slice
is attended on its own (its own softmax) and the slices' outputs are summed, as TPLA's all-reduce
does (``mla.MLAttention.sharded``). No retraining.

What we followed of the paper (its method section; its code is unreleased):
- Every head stays on every slice; the absorbed query and W_UV are cut along the latent axis like
  c_kv. The RoPE key k_pe is replicated on every slice, so a device holds ``r_kv/g + d_r`` values
  per token and layer (``per_device_bytes_per_token``).
- Before slicing, an orthogonal ``U`` (r_kv × r_kv) is applied to the latent and folded into the
  weights — c' = c·U into ``kv_a_proj_with_mqa``, U into each head's W_UK and W_UV — so plain MLA's
  output is unchanged: ``none`` (U = I), ``hadamard`` (a Sylvester Hadamard matrix times random ±1
  signs, / √r; r_kv must be a power of two) or ``pca`` (the eigenvectors of the latent's covariance
  on calibration ids, largest first).
- A slice's no-RoPE logits are scaled by μ_i = E‖c'‖² / E‖c'_i‖² on the calibration ids (the
  paper's Conditions 1–2: the local logit times μ stands in for the global one; μ = g when the
  slices carry equal energy, as Hadamard makes them).
- The latent's RMSNorm (``kv_a_layernorm``) would have to be recomputed per slice; our converted MLA
  models have none, and a layer with one is refused here.
- Prefill and decode both use the sliced form (the paper's plain TPLA; its "pd sep." variant, plain
  MLA for the prompt, needs a graph that tells prefill from decode and is not built).

With g = 1, U = I and μ = 1 the layer computes exactly plain MLA.
"""

from __future__ import annotations

import math
from typing import List, Optional

import torch
from torch import nn

from .mla import MLAConfig, MLAttention

TRANSFORMS = ("none", "hadamard", "pca")


def hadamard(n: int, generator: torch.Generator) -> torch.Tensor:
    """An orthogonal n × n matrix: random ±1 signs times Sylvester's Hadamard matrix, / √n."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"a Hadamard transform needs a power-of-two latent width, not {n}")
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    signs = torch.randint(0, 2, (n,), generator=generator).to(torch.float64) * 2 - 1
    return (signs[:, None] * h) / math.sqrt(n)


@torch.no_grad()
def latents(model: nn.Module, ids: torch.Tensor) -> List[torch.Tensor]:
    """Each MLA layer's c_kv [tokens, r_kv] (float64) on ``ids`` [rows, length]."""
    layers = [m for m in model.modules() if isinstance(m, MLAttention)]
    seen: List[Optional[torch.Tensor]] = [None] * len(layers)

    def keep(index: int, width: int):
        def hook(_module, _inputs, output):
            seen[index] = output[..., :width].reshape(-1, width).to(torch.float64)
        return hook

    handles = [layer.kv_a_proj_with_mqa.register_forward_hook(keep(i, layer.cfg.kv_lora_rank))
               for i, layer in enumerate(layers)]
    try:
        rows, length = ids.shape
        positions = torch.arange(length).unsqueeze(0).repeat(rows, 1)
        model(ids, torch.ones_like(ids), positions, model.empty_states(rows))
    finally:
        for h in handles:
            h.remove()
    return seen


@torch.no_grad()
def apply_tpla(model: nn.Module, shards: int, transform: str, calibration: torch.Tensor, seed: int) -> List[dict]:
    """Makes every MLA layer of ``model`` a TPLA layer of ``shards`` slices, in place; returns what
    each layer got (for the sidecar). ``calibration``: token ids [rows, length] for PCA and μ."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown TPLA transform {transform!r}: use one of {', '.join(TRANSFORMS)}")
    layers = [m for m in model.modules() if isinstance(m, MLAttention)]
    for layer in layers:
        cfg: MLAConfig = layer.cfg
        if cfg.kv_a_layernorm:
            raise ValueError("TPLA of a layer with kv_a_layernorm (a norm over the whole latent) is not built")
        if shards < 1 or cfg.kv_lora_rank % shards:
            raise ValueError(f"cannot cut a latent of width {cfg.kv_lora_rank} into {shards} equal slices")
    generator = torch.Generator().manual_seed(seed)
    found = latents(model, calibration)
    entries = []
    for layer, c in zip(layers, found):
        r = layer.cfg.kv_lora_rank
        if transform == "none":
            u = torch.eye(r, dtype=torch.float64)
        elif transform == "hadamard":
            u = hadamard(r, generator)
        else:
            centred = c - c.mean(0)
            values, vectors = torch.linalg.eigh(centred.T @ centred)
            u = vectors[:, torch.argsort(values, descending=True)]
        fold(layer, u)
        energy = (c @ u).pow(2).sum(0)  # per latent dim, after the transform
        per_slice = energy.reshape(shards, r // shards).sum(1)
        scale = energy.sum() / per_slice
        layer.tpla_shards = shards
        layer.tpla_scale = scale.to(torch.float32)
        entries.append({"shards": shards, "transform": transform, "scale": [round(float(x), 6) for x in scale]})
    return entries


def fold(layer: MLAttention, u: torch.Tensor) -> None:
    """Folds the orthogonal ``u`` into the layer: its latent becomes c·u, its W_UK and W_UV take u,
    so that plain MLA's output is unchanged."""
    cfg = layer.cfg
    r = cfg.kv_lora_rank
    kv_a = layer.kv_a_proj_with_mqa.weight  # [r + d_r, hidden]; c = x · W[:r]ᵀ
    kv_a[:r] = (u.T @ kv_a[:r].to(torch.float64)).to(kv_a.dtype)
    h = cfg.num_attention_heads
    w = layer.kv_b_proj.weight.view(h, cfg.qk_nope_head_dim + cfg.v_head_dim, r)  # per head [k_nope; v] = W c
    w.copy_((w.to(torch.float64) @ u).to(w.dtype))


def per_device_bytes_per_token(model: nn.Module, element_bytes: int) -> int:
    """What one device's cache holds per token: each TPLA layer's latent slice and its RoPE key,
    and the growing state of every other layer whole."""
    total = 0
    for index, block in enumerate(model.layers):
        mixer = block.mixer
        for decl in mixer.states(index):
            if not decl.growing:
                continue
            n = 1
            for x in decl.shape:
                if not isinstance(x, str):
                    n *= x
            latent = isinstance(mixer, MLAttention) and decl.past.endswith(".key")
            total += (n // mixer.tpla_shards if latent else n) * element_bytes
    return total


def record(out, model: nn.Module, entries: List[dict], element_bytes: int) -> None:
    """Adds TPLA's settings to the MLA layers of ``out``/kvbench.json and the cache one device holds
    per token beside the total (the graph, being computed on one device, holds the total)."""
    import json
    from pathlib import Path

    path = Path(out) / "kvbench.json"
    sidecar = json.loads(path.read_text())
    mla_layers = [entry for entry in sidecar["layers"] if entry.get("kind") == "mla"]
    assert len(mla_layers) == len(entries), (len(mla_layers), len(entries))
    for layer, entry in zip(mla_layers, entries):
        layer["tpla"] = entry
    sidecar["cache"]["per_device_bytes_per_token"] = per_device_bytes_per_token(model, element_bytes)
    sidecar["cache"]["per_device_formula"] = "Σ_MLA (r_kv/g + d_r)·s + Σ_other layers' state per token"
    path.write_text(json.dumps(sidecar, indent=1) + "\n")
