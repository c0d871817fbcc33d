"""Writes a model directory: ONNX graph with flat state tensors, sidecar, config, tokenizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import torch
from torch import nn

from . import tokenizer
from .common import CausalLM, StateDecl


class FlatWrapper(nn.Module):
    """(input_ids, attention_mask, position_ids, *past) -> (logits, *present): tensors only."""

    def __init__(self, model: CausalLM):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past):
        logits, present = self.model(input_ids, attention_mask, position_ids, list(past))
        return (logits, *present)


def _axes(decl: StateDecl, present: bool) -> dict:
    axes = {}
    for i, d in enumerate(decl.shape):
        if d == "batch_size":
            axes[i] = "batch_size"
        elif isinstance(d, str):
            axes[i] = "total_sequence_length" if present else "past_sequence_length"
    return axes


def export_onnx(model: CausalLM, path: Path, opset: int = 14) -> None:
    """Traces with distinct batch/past/sequence sizes so no axis is mistaken for a constant."""
    decls = model.state_decls()
    batch, past_len, seq = 2, 3, 4
    input_ids = torch.randint(3, 100, (batch, seq), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(batch, past_len + seq, dtype=torch.int64)
    positions = torch.arange(past_len, past_len + seq).unsqueeze(0).repeat(batch, 1)
    past = []
    for d in decls:
        dims = [batch if x == "batch_size" else past_len if isinstance(x, str) else x for x in d.shape]
        past.append(torch.randn(dims, generator=torch.Generator().manual_seed(1)))
    names_in = ["input_ids", "attention_mask", "position_ids"] + [d.past for d in decls]
    names_out = ["logits"] + [d.present for d in decls]
    dynamic = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    for d in decls:
        dynamic[d.past] = _axes(d, False)
        dynamic[d.present] = _axes(d, True)
    torch.onnx.export(
        FlatWrapper(model).eval(),
        (input_ids, mask, positions, *past),
        str(path),
        input_names=names_in,
        output_names=names_out,
        dynamic_axes=dynamic,
        opset_version=opset,
        do_constant_folding=True,
    )


def cache_bytes(decls: List[StateDecl], bytes_per_element: int):
    """(growing bytes per token, fixed bytes per sequence) from the declared shapes."""
    per_token = 0
    fixed = 0
    for d in decls:
        n = 1
        for x in d.shape:
            if not isinstance(x, str):
                n *= x
        if d.growing:
            per_token += n * bytes_per_element
        else:
            fixed += n * bytes_per_element
    return per_token, fixed


def write_model_dir(
    out: Path,
    model: CausalLM,
    family: str,
    name: str,
    config: dict,
    layers: list,
    formula: str,
    seed: int,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out / "model.onnx")
    per_token, fixed = cache_bytes(model.state_decls(), 4)
    sidecar = {
        "format": 1,
        "family": family,
        "name": name,
        "dtype": "float32",
        "vocab_size": config["vocab_size"],
        "max_length": config["max_position_embeddings"],
        "layers": layers,
        "cache": {"bytes_per_token_formula": formula, "bytes_per_token": per_token, "fixed_state_bytes": fixed},
        "seed": seed,
    }
    (out / "kvbench.json").write_text(json.dumps(sidecar, indent=1) + "\n")
    (out / "config.json").write_text(json.dumps(dict(config, family=family, seed=seed), indent=1) + "\n")
    tokenizer.write(out, config["vocab_size"], config["max_position_embeddings"])
