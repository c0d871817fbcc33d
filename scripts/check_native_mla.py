#!/usr/bin/env python3
"""Checks the import of models trained with MLA (DeepSeek-V2 layout) against transformers itself:
exits non-zero on a mismatch.

    python3 scripts/check_native_mla.py [--work DIR]

Needs transformers (written against 5.18), so it is not part of the test suite; the committed
native-MLA fixture and its PyTorch reference hold the ONNX side there. transformers writes tiny
random ``DeepseekV2ForCausalLM`` checkpoints with ``save_pretrained``: a plain query and a low-rank
one, greedy and group-limited routing, YaRN (original context 64, so positions up to 300 cross its
ramp) with mscale ≠ mscale_all_dim so that both of its factors matter. ``from_pretrained`` (float32,
eager attention) and ``families.hf_deepseek.load`` read each, and kvbench's PyTorch model must give
transformers' logits within 1e-4 at every position of a 300-token prefill, and token by token
through its own cache.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families import hf_deepseek  # noqa: E402
from families.reference import positions_for  # noqa: E402

TOLERANCE = 1e-4
LENGTH = 300

CASES = {
    "v2-lite (q_proj, greedy, yarn)": dict(q_lora_rank=None, topk_method="greedy", n_group=1, topk_group=1),
    "v2 (q_lora, group-limited, yarn)": dict(q_lora_rank=32, topk_method="group_limited_greedy", n_group=4,
                                             topk_group=2),
}


def hf_model(seed: int, **options):
    from transformers import DeepseekV2Config, DeepseekV2ForCausalLM

    scaling = {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64, "beta_fast": 32,
               "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.707}
    config = DeepseekV2Config(
        vocab_size=512, hidden_size=64, intermediate_size=96, moe_intermediate_size=24, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8,
        v_head_dim=12, n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=3, first_k_dense_replace=1,
        routed_scaling_factor=1.5, max_position_embeddings=512, rms_norm_eps=1e-6, tie_word_embeddings=False,
        rope_scaling=dict(scaling, rope_theta=10000.0), attn_implementation="eager", **options,
    )
    torch.manual_seed(seed)
    model = DeepseekV2ForCausalLM(config).eval()
    with torch.no_grad():  # transformers leaves the stacked experts and the router uninitialised or zero
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / p.shape[-1] ** 0.5)
    return model


@torch.no_grad()
def compare(name: str, options: dict, work: Path) -> float:
    from transformers import DeepseekV2ForCausalLM

    directory = work / name.split(" ")[0]
    hf_model(0, **options).save_pretrained(directory)
    theirs = DeepseekV2ForCausalLM.from_pretrained(directory, torch_dtype=torch.float32,
                                                   attn_implementation="eager").eval()
    ours, _, _ = hf_deepseek.load(directory)
    ids = torch.randint(3, 512, (1, LENGTH), generator=torch.Generator().manual_seed(1))
    expected = theirs(ids).logits
    mask = torch.ones_like(ids)
    got, _ = ours(ids, mask, positions_for(mask), ours.empty_states(1))
    worst = float((got - expected).abs().max())
    # Token by token through kvbench's cache, for the first 40 positions.
    state = ours.empty_states(1)
    for t in range(40):
        step_mask = torch.ones(1, t + 1, dtype=torch.int64)
        logits, state = ours(ids[:, t:t + 1], step_mask, positions_for(step_mask)[:, -1:], state)
        worst = max(worst, float((logits[0, 0] - expected[0, t]).abs().max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="directory for the checkpoints (default: a temporary one)")
    args = parser.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for name, options in CASES.items():
            delta = compare(name, options, work)
            ok = delta <= TOLERANCE
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: max |Δlogit| vs transformers {delta:.3g} (limit {TOLERANCE})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
