"""Reference outputs computed by the PyTorch model itself (eager, fp32), with the harness's
padding conventions: prompts left-padded, positions = real tokens before each token."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .common import CausalLM


def positions_for(mask: torch.Tensor) -> torch.Tensor:
    return (mask.cumsum(-1) - 1).clamp(min=0)


def _save(out: Path, name: str, t: torch.Tensor) -> dict:
    arr = t.detach().to(torch.float32).contiguous().numpy()
    (out / f"{name}.f32").write_bytes(arr.astype("<f4").tobytes())
    return {"file": f"{name}.f32", "shape": list(arr.shape)}


def _tokens(g: torch.Generator, vocab: int, n: int, distinct: bool) -> torch.Tensor:
    """``n`` random non-special ids; without repeats when ``distinct`` (see write_cases)."""
    if distinct:
        return torch.randperm(vocab - 3, generator=g)[:n] + 3
    return torch.randint(3, vocab, (n,), generator=g)


@torch.no_grad()
def write_cases(model: CausalLM, out: Path, vocab: int, seed: int, distinct: bool = False) -> None:
    """``distinct`` draws each sequence without repeated tokens. Families that rank keys by a
    value-derived score (DMA's top-k) need it: a repeated token has identical values in the first
    layer, and an exact tie at the top-k boundary may be broken differently by onnxruntime."""
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed + 1)
    cases = {}

    ids = _tokens(g, vocab, 20, distinct).unsqueeze(0)
    mask = torch.ones_like(ids)
    logits, _ = model(ids, mask, positions_for(mask), model.empty_states(1))
    cases["prefill"] = {"input_ids": ids.tolist(), "logits": _save(out, "prefill", logits)}

    ids = _tokens(g, vocab, 14, distinct).unsqueeze(0)
    prompt, rest = ids[:, :6], ids[:, 6:]
    mask = torch.ones_like(prompt)
    logits, state = model(prompt, mask, positions_for(mask), model.empty_states(1))
    steps = []
    for j in range(rest.shape[1]):
        mask = torch.ones(1, prompt.shape[1] + j + 1, dtype=torch.int64)
        step_logits, state = model(rest[:, j:j + 1], mask, positions_for(mask)[:, -1:], state)
        steps.append(_save(out, f"decode_step_{j}", step_logits))
    cases["decode"] = {
        "prompt_ids": prompt.tolist(),
        "step_ids": rest[0].tolist(),
        "prefill_logits": _save(out, "decode_prefill", logits),
        "steps": steps,
    }

    lengths = [7, 13, 20]
    width = max(lengths)
    ids = torch.zeros(3, width, dtype=torch.int64)
    mask = torch.zeros(3, width, dtype=torch.int64)
    for r, n in enumerate(lengths):
        ids[r, width - n:] = _tokens(g, vocab, n, distinct)
        mask[r, width - n:] = 1
    logits, _ = model(ids, mask, positions_for(mask), model.empty_states(3))
    cases["batch"] = {
        "lengths": lengths,
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "position_ids": positions_for(mask).tolist(),
        "logits": _save(out, "batch", logits),
        "note": "rows are left-padded; logits at pad positions are not compared",
    }
    (out / "cases.json").write_text(json.dumps(cases, indent=1) + "\n")
