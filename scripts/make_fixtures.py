#!/usr/bin/env python3
"""Regenerates the committed test fixtures, bit for bit, from their seeds.

    /usr/bin/python3 scripts/make_fixtures.py [--family llama,...] [--out tests/fixtures]

Needs Debian's python3-torch and python3-onnx (apt-get install python3-torch python3-onnx).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families import broken, llama, third_party  # noqa: E402
from families.mqar import write_vectors  # noqa: E402
from families import dma  # noqa: E402
from families import zebra  # noqa: E402
from families import deepseek, mla, moe, registry, tpla, xecomla  # noqa: E402
from families.common import init_weights  # noqa: E402
from families import export as export_module  # noqa: E402
from families.export import write_model_dir  # noqa: E402
from families.reference import write_cases  # noqa: E402

SEED = 20261123


def make_llama(out: Path) -> None:
    cfg = llama.LlamaConfig()
    model = llama.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    write_model_dir(
        out, model, "llama", "tiny-llama", vars(cfg).copy(), llama.layer_layout(cfg),
        "2 * L * n_kv * d_h * s", SEED,
    )
    write_cases(model, out / "reference", cfg.vocab_size, SEED)


def make_dma(out: Path) -> None:
    cfg = dma.DMAConfig()
    model = dma.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    write_model_dir(out, model, "dma", "tiny-dma", vars(cfg).copy(), dma.layer_layout(cfg), dma.FORMULA, SEED)
    # distinct: repeated tokens have equal first-layer values, hence exactly tied gates.
    write_cases(model, out / "reference", cfg.vocab_size, SEED, distinct=True)


def make_llama_fp16(out: Path) -> None:
    """The tiny llama stored in float16 (weights and states), for the fp16 side of the device parity
    check. The reference runs in float32 on the fp16-rounded weights, so what is left is the fp16
    state between calls and the device's arithmetic."""
    cfg = llama.LlamaConfig()
    model = llama.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    write_model_dir(
        out, model, "llama", "tiny-llama-fp16", vars(cfg).copy(), llama.layer_layout(cfg),
        "2 * L * n_kv * d_h * s", SEED, dtype="float16",
    )
    write_cases(model, out / "reference", cfg.vocab_size, SEED)


def make_llama_fp16_matmul(out: Path) -> None:
    """llama-fp16 with its linear layers multiplying in float16 (scripts/export_fp16_matmul.py)."""
    import shutil
    import subprocess

    source = out.parent / "llama-fp16"
    if not (source / "model.onnx").exists():
        make_llama_fp16(source)
    script = Path(__file__).resolve().parent / "export_fp16_matmul.py"
    subprocess.run([sys.executable, str(script), "--model", str(source), "--out", str(out)], check=True)
    shutil.copytree(source / "reference", out / "reference", dirs_exist_ok=True)


def make_llama_fused(out: Path, dtype: str = "float32", graph: str = "fused") -> None:
    """The tiny llama's graph built from ONNX Runtime's fused operators (families/fused.py), checked
    against the same PyTorch reference as the traced one; in float16 it also computes in float16.
    ``graph`` "static": with the static cache (GroupQueryAttention)."""
    cfg = llama.LlamaConfig()
    model = llama.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    if dtype == "float16":
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
    suffix = "" if dtype == "float32" else "-fp16"
    write_model_dir(
        out, model, "llama", f"tiny-llama-{graph}{suffix}", vars(cfg).copy(), llama.layer_layout(cfg),
        "2 * L * n_kv * d_h * s", SEED, dtype=dtype, graph=graph,
    )
    write_cases(model, out / "reference", cfg.vocab_size, SEED)


FAMILIES = {"llama": make_llama, "llama-fp16": make_llama_fp16, "llama-fp16-matmul": make_llama_fp16_matmul}
FAMILIES["llama-fused"] = make_llama_fused
FAMILIES["llama-fused-fp16"] = lambda out: make_llama_fused(out, "float16")
FAMILIES["llama-static"] = lambda out: make_llama_fused(out, "float32", "static")
FAMILIES["llama-static-fp16"] = lambda out: make_llama_fused(out, "float16", "static")
FAMILIES["dma"] = make_dma


def make_zebra(out: Path) -> None:
    """Zebra-Llama from a 4-layer tiny teacher: MLA at layers 0 and 2, Mamba2 at 1 and 3."""
    import json

    tcfg = llama.LlamaConfig(num_hidden_layers=4)
    teacher = llama.build(tcfg)
    init_weights(teacher, torch.Generator().manual_seed(SEED))
    zcfg = zebra.ZebraConfig()
    built = registry.as_zebra(teacher.eval(), tcfg, zcfg, torch.Generator().manual_seed(SEED + 7))
    model = built.model
    built.forms(model, False)
    write_model_dir(out, model, "zebra", "tiny-zebra-2mla2m2", built.entries, built.layers, built.formula, SEED)
    sidecar = json.loads((out / "kvbench.json").read_text())
    per_token, fixed = zebra.expected_cache(built.layer_configs, 4)
    assert (sidecar["cache"]["bytes_per_token"], sidecar["cache"]["fixed_state_bytes"]) == (per_token, fixed)
    sidecar["cache"]["fixed_state_bytes_formula"] = zebra.FIXED_FORMULA
    (out / "kvbench.json").write_text(json.dumps(sidecar, indent=1) + "\n")
    built.forms(model, True)
    write_cases(model, out / "reference", tcfg.vocab_size, SEED)


FAMILIES["zebra"] = make_zebra


def _write_mla_family(out: Path, built: registry.Built, family: str, name: str, config: dict, vocab: int,
                      graph: str = "traced", dtype: str = "float32") -> None:
    """Exports the graph's (absorbed) form; the reference cases come from the expanded form. In float16
    the weights are rounded to it first, so the reference is the model the graph holds."""
    if dtype == "float16":
        with torch.no_grad():
            for param in built.model.parameters():
                param.copy_(param.half().float())
    built.forms(built.model, False)
    write_model_dir(out, built.model, family, name, config, built.layers, built.formula, SEED, dtype=dtype,
                    graph=graph)
    built.forms(built.model, True)
    write_cases(built.model, out / "reference", vocab, SEED)


def _tiny_transmla():
    """The tiny llama teacher and its TransMLA conversion (r_kv 24 + d_r 8 per layer; GQA: 64), with the
    config.json it is written with."""
    cfg = llama.LlamaConfig()
    teacher = llama.build(cfg)
    init_weights(teacher, torch.Generator().manual_seed(SEED))
    teacher.eval()
    conv = {"kv_lora_rank": 24, "d_r": 8, "freqfold": 2, "balance": True, "calib_seed": SEED + 2}
    built = registry.as_transmla(teacher, cfg, **conv)
    config = dict(vars(cfg), teacher="tiny-llama", conversion=dict(conv, calibration="8 x 64 random ids"),
                  **built.entries)
    return teacher, cfg, built, config


def make_transmla(out: Path) -> None:
    """The tiny llama fixture converted by TransMLA."""
    teacher, cfg, built, config = _tiny_transmla()
    print("transmla conversion error vs teacher:", mla.logit_gap(teacher, built.model, cfg.vocab_size, SEED + 3))
    _write_mla_family(out, built, "transmla", "tiny-transmla", config, cfg.vocab_size)


FAMILIES["transmla"] = make_transmla


def make_transmla_tpla(out: Path) -> None:
    """The transmla fixture as TPLA with 2 slices of its 24-wide latent, PCA-rotated (scripts/families/tpla.py)."""
    teacher, cfg, built, config = _tiny_transmla()
    model = built.model
    calibration = torch.randint(3, cfg.vocab_size, (8, 64), generator=torch.Generator().manual_seed(SEED + 5))
    # One slice without a transform is plain MLA, bit for bit.
    single = copy.deepcopy(model)
    tpla.apply_tpla(single, 1, "none", calibration, SEED + 6)
    gap = mla.logit_gap(model, single, cfg.vocab_size, SEED + 3)
    assert gap["max_abs"] == 0.0, gap
    entries = tpla.apply_tpla(model, 2, "pca", calibration, SEED + 6)
    print("transmla-tpla error vs teacher:", mla.logit_gap(teacher, model, cfg.vocab_size, SEED + 3))
    config = dict(config, tpla=dict(entries[0], calibration="8 x 64 random ids"))
    _write_mla_family(out, built, "transmla", "tiny-transmla-tpla2-pca", config, cfg.vocab_size)
    tpla.record(out, model, entries, 4)


FAMILIES["transmla-tpla"] = make_transmla_tpla


def make_xecomla(out: Path, graph: str = "traced", dtype: str = "float32") -> None:
    """A 3-layer hybrid from a tiny llama teacher: MLA (r_kv by energy), GQA, MLA (another r_kv); with
    ``graph`` "fused", built from ONNX Runtime's fused operators (families/fused.py); "static", so with
    a static cache, where every MLA layer keeps r_kv 24 (its key head, 24 + 8, must be a multiple of 16)."""
    cfg = llama.LlamaConfig(num_hidden_layers=3)
    teacher = llama.build(cfg)
    init_weights(teacher, torch.Generator().manual_seed(SEED))
    taus = [6.0, 10.0, 14.0]
    for layer, tau in zip(teacher.layers, taus):
        xecomla.decay_spectrum(layer.mixer.k_proj, tau)
        xecomla.decay_spectrum(layer.mixer.v_proj, tau)
    teacher.eval()
    conv = {"mla_layers": [0, 2], "d_r": 8, "q_lora_rank": 48, "kv_energy": 0.9}
    if graph == "static":
        conv = {"mla_layers": [0, 2], "d_r": 8, "q_lora_rank": 48, "kv_lora_rank": 24}
    built = registry.as_xecomla(teacher, cfg, **conv)
    print("xecomla conversion error vs teacher:", mla.logit_gap(teacher, built.model, cfg.vocab_size, SEED + 3))
    config = dict(vars(cfg), teacher="tiny-llama, 3 layers, K/V spectra decayed", teacher_spectrum_tau=taus,
                  conversion=conv, **built.entries)
    name = "tiny-xecomla-hybrid" + ("" if graph == "traced" else f"-{graph}") + ("-fp16" if dtype == "float16" else "")
    _write_mla_family(out, built, "xecomla", name, config, cfg.vocab_size, graph, dtype)


FAMILIES["xecomla"] = make_xecomla
FAMILIES["xecomla-static"] = lambda out: make_xecomla(out, "static")
FAMILIES["xecomla-static-fp16"] = lambda out: make_xecomla(out, "static", "float16")
FAMILIES["xecomla-fused"] = lambda out: make_xecomla(out, "fused")


def make_deepseek(out: Path, version: str = "v2", graph: str = "traced") -> None:
    """A tiny model trained-with-MLA in DeepSeek's layout: low-rank query, YaRN, a dense first layer
    then DeepSeekMoE (8 experts in 4 groups, 2 groups kept, top 3, one shared), routed as V2 does
    (softmax, group-limited) or as V3 does (sigmoid, noaux_tc with a correction bias, normalised).
    Weights as families/hf_mla.py leaves them (RoPE rows rotate-half, YaRN's factors folded in),
    so the fixture checks the graph; scripts/check_native_mla.py checks the import against transformers."""
    routing = (dict(topk_method="group_limited_greedy", routed_scaling_factor=1.5) if version == "v2" else
               dict(scoring_func="sigmoid", topk_method="noaux_tc", norm_topk_prob=True, routed_scaling_factor=2.5))
    moe_cfg = moe.MoEConfig(hidden_size=64, moe_intermediate_size=24, n_routed_experts=8, n_shared_experts=1,
                            num_experts_per_tok=3, n_group=4, topk_group=2, **routing)
    scaling = {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64, "beta_fast": 32,
               "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.707}
    cfg = deepseek.DeepSeekConfig(num_hidden_layers=3, q_lora_rank=32, v_head_dim=12, intermediate_size=96,
                                  rope_scaling=scaling, first_k_dense_replace=1, moe=moe_cfg)
    model = deepseek.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))  # the correction bias, a buffer, too
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "e_score_correction_bias"):
                m.e_score_correction_bias.copy_(0.3 * torch.randn(8, generator=torch.Generator().manual_seed(SEED)))
    model.eval()
    suffix = "-fused" if graph == "fused" else ""
    write_model_dir(out, model, f"deepseek_{version}", f"tiny-deepseek-{version}{suffix}", deepseek.config_entry(cfg),
                    deepseek.layer_layout(cfg), deepseek.FORMULA, SEED, graph=graph)
    mla.set_form(model, "expanded")
    write_cases(model, out / "reference", cfg.vocab_size, SEED)


FAMILIES["deepseek-v2"] = make_deepseek
FAMILIES["deepseek-v3"] = lambda out: make_deepseek(out, "v3")
FAMILIES["deepseek-v2-fused"] = lambda out: make_deepseek(out, "v2", "fused")


def make_plm(out: Path, graph: str = "traced") -> None:
    """A tiny PLM (llama.cpp's llm_build_plm): MLA with a plain q_proj, the latent normalised with the
    model's eps, dense ungated ReLU² MLPs; weights as families/hf_mla.py leaves them."""
    cfg = deepseek.DeepSeekConfig(num_hidden_layers=2, v_head_dim=12, intermediate_size=96, moe=None,
                                  first_k_dense_replace=2, hidden_act="relu2", rms_norm_eps=1e-5,
                                  latent_norm_eps=1e-5)
    model = deepseek.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    suffix = "-fused" if graph == "fused" else ""
    write_model_dir(out, model, "plm", f"tiny-plm{suffix}", deepseek.config_entry(cfg), deepseek.layer_layout(cfg),
                    deepseek.FORMULA, SEED, graph=graph)
    mla.set_form(model, "expanded")
    write_cases(model, out / "reference", cfg.vocab_size, SEED)


def make_minicpm3(out: Path) -> None:
    """A tiny MiniCPM3: MLA with a low-rank query, LongRoPE's short factors, dense SwiGLU MLPs; weights as
    families/hf_mla.py leaves them (its embedding, residual and logit scalings folded in), fused graph."""
    scaling = {"rope_type": "longrope", "short_factor": [1.0, 1.5, 2.0, 2.5], "factor": 1.0,
               "original_max_position_embeddings": 256, "attention_factor": 1.0}
    cfg = deepseek.DeepSeekConfig(num_hidden_layers=2, q_lora_rank=32, v_head_dim=12, intermediate_size=96, moe=None,
                                  first_k_dense_replace=2, rope_scaling=scaling, rms_norm_eps=1e-5)
    model = deepseek.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    write_model_dir(out, model, "minicpm3", "tiny-minicpm3", deepseek.config_entry(cfg), deepseek.layer_layout(cfg),
                    deepseek.FORMULA, SEED, graph="fused")
    mla.set_form(model, "expanded")
    write_cases(model, out / "reference", cfg.vocab_size, SEED)


FAMILIES["plm"] = make_plm
FAMILIES["minicpm3"] = make_minicpm3
FAMILIES["plm-fused"] = lambda out: make_plm(out, "fused")
FAMILIES["deepseek-v3-fused"] = lambda out: make_deepseek(out, "v3", "fused")


def make_llama_one_token(out: Path) -> None:
    """The tiny llama as third-party exporters write it: several new tokens only with an empty past.
    Made from a fresh tiny llama, so it equals `third_party.py tests/fixtures/llama` on the committed one."""
    with tempfile.TemporaryDirectory() as tmp:
        make_llama(Path(tmp) / "llama")
        third_party.restrict_to_one_token_after_past(Path(tmp) / "llama", out, "tiny-llama-one-token")


FAMILIES["llama-one-token"] = make_llama_one_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default=",".join(FAMILIES), help="comma-separated families")
    parser.add_argument("--out", default="tests/fixtures", help="output directory")
    parser.add_argument("--grouped-heads", action="store_true",
                        help="export attention with grouped query heads as rows (references stay per-head)")
    args = parser.parse_args()
    families = args.family.split(",")
    for family in families:
        if family not in FAMILIES:
            parser.error(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    export_module.GROUPED_HEADS = args.grouped_heads
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    # Test data sits beside the fixtures (tests/data for the default --out), so a trial run elsewhere
    # leaves the committed files alone.
    data = Path(args.out).resolve().parent / "data"
    broken.write(data / "broken")
    broken.write_merged_decoder(data / "merged_decoder")
    write_vectors(data / "mqar_vectors.json")
    for family in families:
        FAMILIES[family](Path(args.out) / family)
        print(f"wrote {Path(args.out) / family}")


if __name__ == "__main__":
    main()
