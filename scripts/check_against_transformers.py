#!/usr/bin/env python3
"""Checks the Hugging Face Llama import against transformers itself: exits non-zero on a mismatch.

    python3 scripts/check_against_transformers.py [--work DIR]

Needs transformers (>= 4.45; written against 5.x) besides torch, so it is not part of the test
suite, which runs without it; scripts/check_checkpoint_import.py is the self-contained check.
Here transformers writes the checkpoints: a tiny random ``LlamaForCausalLM`` with Llama 3 RoPE
scaling (original context 64, so positions up to 300 cross every band), GQA, tied and untied
heads, saved by ``save_pretrained`` in float32 and bfloat16. ``from_pretrained`` (float32, eager
attention) and ``families.hf_llama.load`` read each, and kvbench's PyTorch model must give
transformers' logits within 1e-4
at every position, including positions far past the original context. The ONNX side is covered
by the self-check (ONNX graph == the loaded PyTorch model within 1e-4).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families import hf_llama  # noqa: E402

TOLERANCE = 1e-4


def hf_model(tied: bool, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64}
    config = LlamaConfig(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, max_position_embeddings=512, rms_norm_eps=1e-5,
        tie_word_embeddings=tied, attn_implementation="eager",
        rope_parameters={"rope_theta": 500000.0, **scaling},
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    # Default init leaves norms at 1: random scales make a wrong norm or mapping visible.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return model


@torch.no_grad()
def compare(tied: bool, dtype: torch.dtype, work: Path) -> float:
    from transformers import LlamaForCausalLM

    out = work / f"hf-{'tied' if tied else 'untied'}-{str(dtype).split('.')[-1]}"
    hf_model(tied, seed=7).to(dtype).save_pretrained(out, safe_serialization=True)
    # Both sides read the saved checkpoint, as lm-eval's hf backend would (float32 compute).
    reference = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    ours, _, _ = hf_llama.load(out)
    ours.eval()
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(3, 512, (2, 300), generator=g)
    expected = reference(input_ids=ids).logits
    positions = torch.arange(ids.shape[1]).unsqueeze(0).repeat(2, 1)
    got = ours(ids, torch.ones_like(ids), positions, ours.empty_states(2))[0]
    return float((got - expected).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="directory for the checkpoints (default: a temporary one)")
    args = parser.parse_args()
    try:
        import transformers
    except ImportError:
        sys.exit("check_against_transformers: needs transformers (pip install transformers)")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kvbench-hf-"))
    failed = 0
    for tied in (True, False):
        for dtype in (torch.float32, torch.bfloat16):
            delta = compare(tied, dtype, work)
            ok = delta <= TOLERANCE
            failed += not ok
            print(f"{'tied' if tied else 'untied'} head, {str(dtype).split('.')[-1]} checkpoint: "
                  f"max |Δlogit| {delta:.2e} over 300 positions {'ok' if ok else 'FAIL'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
