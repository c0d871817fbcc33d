#!/usr/bin/env python3
"""Checks the import of models trained with MLA (DeepSeek-V2 and V3 layouts) against transformers
itself: exits non-zero on a mismatch.

    python3 scripts/check_native_mla.py [--work DIR]

Needs transformers (written against 5.18), so it is not part of the test suite; the committed
native-MLA fixtures and their PyTorch references hold the ONNX side there. transformers writes tiny
random ``DeepseekV2ForCausalLM`` / ``DeepseekV3ForCausalLM`` / ``MiniCPM3ForCausalLM`` checkpoints
with ``save_pretrained``:
a plain query and a low-rank one, V2's greedy and group-limited routing, V3's sigmoid routing with a
random ``e_score_correction_bias``, interleaved and rotate-half RoPE, YaRN (original context 64, so
positions up to 300 cross its ramp) with mscale ≠ mscale_all_dim so that both of its factors
matter. The FP8 case rewrites the V3 checkpoint as DeepSeek ships V3 (float8 E4M3 projections, a
``weight_scale_inv`` per block, here 16 × 16 so that blocks are partial, and a stray
multi-token-prediction layer) and gives transformers the same weights dequantised here, since its
CPU path dequantises blocks by the scale grid's shape rather than the configured block size.
MiniCPM3 runs with its embedding, residual and logit scalings away from 1, a tied head and
LongRoPE's short factors. ``from_pretrained`` (float32,
eager attention) and ``families.hf_mla.load`` read each, and kvbench's PyTorch model must give
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

from families import hf_mla  # noqa: E402
from families.reference import positions_for  # noqa: E402

TOLERANCE = 1e-4
LENGTH = 300

CASES = {
    "v2-lite (q_proj, greedy, yarn)": ("v2", dict(q_lora_rank=None, topk_method="greedy", n_group=1, topk_group=1)),
    "v2 (q_lora, group-limited, yarn)": ("v2", dict(q_lora_rank=32, topk_method="group_limited_greedy", n_group=4,
                                                    topk_group=2)),
    "v3 (q_lora, noaux_tc, yarn, interleaved rope)": ("v3", dict(q_lora_rank=32, n_group=4, topk_group=2)),
    "v3 (q_proj, noaux_tc, rotate-half rope)": ("v3", dict(q_lora_rank=None, n_group=4, topk_group=2,
                                                           rope_interleave=False)),
    "v3-fp8 (16 x 16 blocks, an MTP layer)": ("v3-fp8", dict(q_lora_rank=32, n_group=4, topk_group=2)),
    "minicpm3 (q_lora, longrope, tied, scaled)": ("minicpm3", dict(q_lora_rank=32)),
}
FP8_BLOCK = [16, 16]


def minicpm3(seed: int, q_lora_rank: int):
    """MiniCPM3 with its three scalings away from 1 and LongRoPE's short factors (its context within
    the original one; ``factor`` given, as transformers 5.18 needs it)."""
    from transformers import MiniCPM3Config, MiniCPM3ForCausalLM

    short = [1.0 + 0.25 * i for i in range(4)]
    config = MiniCPM3Config(
        vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=4, q_lora_rank=q_lora_rank, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8,
        v_head_dim=12, max_position_embeddings=512, rms_norm_eps=1e-5, tie_word_embeddings=True,
        scale_emb=12, scale_depth=1.4, dim_model_base=16, attn_implementation="eager",
        rope_scaling={"rope_type": "longrope", "rope_theta": 10000.0, "short_factor": short,
                      "long_factor": [4.0] * 4, "original_max_position_embeddings": 512, "factor": 1.0},
    )
    torch.manual_seed(seed)
    return MiniCPM3ForCausalLM(config).eval()


def hf_model(version: str, seed: int, **options):
    from transformers import DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config, DeepseekV3ForCausalLM

    if version == "minicpm3":
        model = minicpm3(seed, **options)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "norm" in name:
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                elif p.dim() >= 2:
                    p.copy_(torch.randn_like(p) / p.shape[-1] ** 0.5)
        return model
    config_class, model_class = (DeepseekV2Config, DeepseekV2ForCausalLM) if version == "v2" else (
        DeepseekV3Config, DeepseekV3ForCausalLM)
    scaling = {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64, "beta_fast": 32,
               "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.707}
    config = config_class(
        vocab_size=512, hidden_size=64, intermediate_size=96, moe_intermediate_size=24, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8,
        v_head_dim=12, n_routed_experts=8, n_shared_experts=1, num_experts_per_tok=3, first_k_dense_replace=1,
        routed_scaling_factor=1.5 if version == "v2" else 2.5, max_position_embeddings=512, rms_norm_eps=1e-6, tie_word_embeddings=False,
        rope_scaling=dict(scaling, rope_theta=10000.0), attn_implementation="eager", **options,
    )
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():  # transformers leaves the stacked experts and the router uninitialised or zero
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif "e_score_correction_bias" in name:
                p.copy_(0.3 * torch.randn_like(p))  # so that the biased choice differs from the plain one
            elif p.dim() >= 2:
                p.copy_(torch.randn_like(p) / p.shape[-1] ** 0.5)
    return model


def write_fp8(source: Path, target: Path) -> None:
    """``source``'s checkpoint with every projection weight as float8 E4M3 in FP8_BLOCK blocks, each
    with its ``weight_scale_inv`` (as DeepSeek-V3 ships), plus a stray multi-token-prediction layer."""
    import json
    import shutil

    from families.safetensors_io import Checkpoint, save_file

    ckpt = Checkpoint(source)
    tensors, dtypes = {}, {}
    for name in ckpt.names():
        w = ckpt.get(name)
        if name.startswith("model.layers.") and name.endswith("_proj.weight") and w.dim() == 2:
            rows, cols = w.shape
            grid = [-(-rows // FP8_BLOCK[0]), -(-cols // FP8_BLOCK[1])]
            blocks = torch.nn.functional.pad(w.abs(), (0, grid[1] * FP8_BLOCK[1] - cols, 0, grid[0] * FP8_BLOCK[0] - rows))
            amax = blocks.reshape(grid[0], FP8_BLOCK[0], grid[1], FP8_BLOCK[1]).amax(dim=(1, 3)).clamp(min=1e-12)
            scale = amax / 448.0
            expanded = scale.repeat_interleave(FP8_BLOCK[0], 0)[:rows].repeat_interleave(FP8_BLOCK[1], 1)[:, :cols]
            tensors[name], dtypes[name] = w / expanded, "F8_E4M3"
            tensors[name + "_scale_inv"] = scale
        else:
            tensors[name] = w
    layers = json.loads((source / "config.json").read_text())["num_hidden_layers"]
    tensors[f"model.layers.{layers}.eh_proj.weight"] = torch.zeros(4, 4)  # the MTP module, ignored
    target.mkdir(parents=True, exist_ok=True)
    save_file(tensors, target / "model.safetensors", dtypes=dtypes)
    config = json.loads((source / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": FP8_BLOCK,
                                     "activation_scheme": "dynamic"}
    (target / "config.json").write_text(json.dumps(config, indent=1))
    for f in source.iterdir():
        if f.suffix != ".safetensors" and f.name != "config.json" and f.is_file():
            shutil.copy(f, target / f.name)


def dequantized(model, fp8_dir: Path) -> None:
    """Sets ``model``'s weights to what the FP8 checkpoint holds, dequantised here independently of the
    importer, so that transformers computes the model the checkpoint describes."""
    from families.safetensors_io import Checkpoint

    ckpt = Checkpoint(fp8_dir)
    with torch.no_grad():
        params = dict(model.named_parameters())
        for name in ckpt.names():
            if not name.endswith("_scale_inv"):
                continue
            weight = name[: -len("_scale_inv")]
            w8, s = ckpt.get(weight), ckpt.get(name)
            rows, cols = w8.shape
            full = torch.kron(s, torch.ones(FP8_BLOCK))[:rows, :cols]
            target = weight
            if target not in params:  # per-expert on disk, stacked in memory
                parts = weight.split(".")
                layer_expert = ".".join(parts[:5])  # model.layers.i.mlp.experts
                j, proj = int(parts[5]), parts[6]
                stacked = params[f"{layer_expert}.gate_up_proj" if proj in ("gate_proj", "up_proj") else
                                 f"{layer_expert}.down_proj"]
                inter = stacked.shape[1] // 2 if proj != "down_proj" else None
                if proj == "gate_proj":
                    stacked[j, :inter] = w8 * full
                elif proj == "up_proj":
                    stacked[j, inter:] = w8 * full
                else:
                    stacked[j] = w8 * full
                continue
            params[target].copy_(w8 * full)


@torch.no_grad()
def compare(name: str, version: str, options: dict, work: Path) -> float:
    directory = work / name.split(" ")[0]
    theirs = hf_model(version, 0, **options)
    theirs.save_pretrained(directory)
    if version == "v3-fp8":
        write_fp8(directory, work / f"{directory.name}-fp8")
        directory = work / f"{directory.name}-fp8"
        dequantized(theirs, directory)
    else:
        theirs = type(theirs).from_pretrained(directory, torch_dtype=torch.float32, attn_implementation="eager").eval()
    ours, _, _ = hf_mla.load(directory)
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


def check_e4m3() -> bool:
    """kvbench's float8 E4M3 decoder, every one of the 256 codes, against torch's float8_e4m3fn: the FP8
    case's reference dequantises through the same decoder, so it is checked here on its own."""
    import numpy as np

    from families.safetensors_io import e4m3_bits_to_float32

    codes = torch.arange(256, dtype=torch.uint8)
    theirs = codes.view(torch.float8_e4m3fn).to(torch.float32).numpy()
    ours = e4m3_bits_to_float32(codes.numpy())
    ok = bool(np.array_equal(ours, theirs, equal_nan=True))
    print(f"{'ok  ' if ok else 'FAIL'} float8 E4M3 decoding equals torch's for all 256 codes")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="directory for the checkpoints (default: a temporary one)")
    args = parser.parse_args()
    failures = 0 if check_e4m3() else 1
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for name, (version, options) in CASES.items():
            delta = compare(name, version, options, work)
            ok = delta <= TOLERANCE
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: max |Δlogit| vs transformers {delta:.3g} (limit {TOLERANCE})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
