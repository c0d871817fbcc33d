#!/usr/bin/env python3
"""Exports your own Hugging Face checkpoint as a kvbench model directory: a Llama in any family, or a
model trained with MLA (DeepSeek-V2 layout) as it is.

    /usr/bin/python3 scripts/export_checkpoint.py --checkpoint HF_DIR [--family FAMILY] --out DIR
        [--dtype float16|float32] [--seed N] [--name NAME] [--reference] [--graph auto|fused|static|traced]
        [family options]

HF_DIR holds config.json, model.safetensors (or model.safetensors.index.json and its shards; F32,
F16 or BF16), tokenizer.json and tokenizer_config.json; see ``families/hf_llama.py`` for which
Llama variants load (Llama 2/3/3.1/3.2/3.3 layouts, Llama 3 RoPE scaling, tied or untied head).

    llama     the checkpoint as it is (GQA cache)
    transmla  TransMLA, training-free GQA -> MLA:  --kv-lora-rank R --rope-dim D [--freqfold F]
    xecomla   X-EcoMLA SVD init (MLA layers, others stay GQA):  --rope-dim D
              (--kv-lora-rank R | --kv-energy E) [--q-lora-rank Q] [--mla-layers 0,2,...]
    zebra     Zebra-Llama, MLA + Mamba2 hybrid:  --mla-layers 0,2,... --kv-lora-rank R --rope-dim D
              [--q-lora-rank Q]
    dma       Doge dynamic mask attention on the checkpoint's attention:  [--keep-window K]
    native    a model trained with MLA, as it is, with its compressed cache (``families/hf_mla.py``):
              DeepSeek-V2/V2-Lite (deepseek_v2), V3/R1/Moonlight (deepseek_v3) and Kimi-K2 (kimi_k2), FP8
              dequantised,
              MiniCPM3 (minicpm3), PLM (plm); MLA with or without a low-rank query, YaRN or LongRoPE,
              DeepSeekMoE or dense SwiGLU / ReLU² MLPs

--family defaults to the checkpoint's own: native for those model types, else llama. A native
export's family in kvbench.json is its model_type.

For Llama-3.2-1B the papers' shapes are, e.g., ``transmla --kv-lora-rank 512 --rope-dim 64``;
``xecomla --kv-lora-rank 128 --rope-dim 32 --q-lora-rank 1344``; ``zebra --mla-layers
0,2,4,6,8,10,12,14 --kv-lora-rank 128 --rope-dim 32 --q-lora-rank 1344``.

The converted families are LOSSY: TransMLA/X-EcoMLA/Zebra drop RoPE from part of each key and
truncate ranks, Zebra's Mamba2 layers only start from the attention weights, so the exported model
is an initialisation that needs fine-tuning or distillation from the original before its accuracy
means anything. The script prints the conversion's logit gap against the original (random ids) so
you can see how far off the start is. DMA starts exactly at the original (A = 0 makes the gate
constant) only while the context fits in ``--keep-window`` (default: max_position_embeddings):
below that the kept keys are chosen among equal gates until A and dt_proj are trained.

The graph is built from ONNX Runtime's fused operators where the family has a fused form (llama,
transmla, xecomla without TPLA, native: ``families/fused.py``, faster on CPU and GPU) and traced
from the PyTorch modules otherwise; ``--graph traced`` asks for the traced one. ``--graph static``
(llama, and xecomla whose r_kv + d_r is a multiple of 16 and at most 256) builds the fused graph with a
preallocated cache that GroupQueryAttention writes in place,
the fastest decoder on a GPU (docs/BENCHMARKS.md); export it in float16 for CUDA, where that operator
has no float32 kernel.

The checkpoint's tokenizer.json and tokenizer_config.json are copied over the export's own.
``--reference`` also stores PyTorch reference logits (reference/) so ``deno task parity --device
cpu --model DIR`` checks the ONNX graph against the PyTorch model it was exported from.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families import deepseek, hf_mla, hf_llama, llama, mla, registry, tpla, zebra  # noqa: E402
from families import fused  # noqa: E402
from families.export import DTYPES, GRAPHS, write_model_dir  # noqa: E402
from families.reference import write_cases  # noqa: E402

FAMILIES = (*registry.CONVERSIONS, "native")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# Which family options each family takes, and which it cannot do without (the registry's conversions;
# a model trained with MLA takes none).
OPTIONS = {name: (c.options, c.required) for name, c in registry.CONVERSIONS.items()} | {"native": ((), ())}
FAMILY_OPTIONS = sorted({o for allowed, _ in OPTIONS.values() for o in allowed})


def layer_list(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="Hugging Face Llama directory")
    parser.add_argument("--family", choices=FAMILIES, help="default: the checkpoint's own (llama, or native for MLA models)")
    parser.add_argument("--out", required=True, type=Path, help="model directory to write")
    parser.add_argument("--dtype", default="float16", choices=sorted(DTYPES),
                        help="weights, states and logits")
    parser.add_argument("--seed", type=int, default=0, help="calibration ids, new parameters, logit-gap ids")
    parser.add_argument("--name", help="display name (default: checkpoint directory + family settings)")
    parser.add_argument("--reference", action="store_true", help="also write PyTorch reference logits")
    parser.add_argument("--graph", default="auto", choices=("auto", *GRAPHS),
                        help="fused: the graph built from ONNX Runtime's fused operators (families/fused.py; "
                             "llama, transmla, xecomla, native); static: fused with a cache written in place "
                             "(GroupQueryAttention; llama, xecomla); traced: from the PyTorch modules; auto (default): "
                             "fused where the family has a fused form")
    parser.add_argument("--kv-lora-rank", type=int, help="MLA latent width r_kv")
    parser.add_argument("--rope-dim", type=int, help="MLA RoPE key width d_r")
    parser.add_argument("--freqfold", type=int, help="TransMLA: frequencies pooled per PCA (default 1)")
    parser.add_argument("--mla-layers", type=layer_list, help="comma-separated layer indices made MLA")
    parser.add_argument("--kv-energy", type=float, help="X-EcoMLA: r_kv per layer from this energy share")
    parser.add_argument("--q-lora-rank", type=int, help="MLA query rank (default: full rank)")
    parser.add_argument("--keep-window", type=int, help="DMA keys kept per query (default: max length)")
    parser.add_argument("--tpla-shards", type=int, default=1,
                        help="TPLA: cut every MLA layer's latent into this many slices, each with its own softmax "
                             "(scripts/families/tpla.py; default 1: plain MLA)")
    parser.add_argument("--tpla-transform", default="pca", choices=tpla.TRANSFORMS,
                        help="TPLA: the orthogonal rotation of the latent before slicing (default pca)")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_dir():
        parser.error(f"--checkpoint {args.checkpoint} is not a directory")
    config_path = args.checkpoint / "config.json"
    model_type = json.loads(config_path.read_text()).get("model_type") if config_path.exists() else None
    native = model_type in hf_mla.MODEL_TYPES
    if args.family is None:
        args.family = "native" if native else "llama"
    elif native != (args.family == "native"):
        parser.error(f"--family {args.family} does not apply to {args.checkpoint} (model_type {model_type!r}): "
                     + ("a model trained with MLA exports as it is; leave --family out" if native else
                        f"--family native reads {', '.join(hf_mla.MODEL_TYPES)} checkpoints"))
    allowed, required = OPTIONS[args.family]
    for opt in FAMILY_OPTIONS:
        flag = "--" + opt.replace("_", "-")
        if getattr(args, opt) is not None and opt not in allowed:
            parser.error(f"{flag} does not apply to --family {args.family}")
        if getattr(args, opt) is None and opt in required:
            parser.error(f"--family {args.family} needs {flag}")
    if args.family == "xecomla" and (args.kv_lora_rank is None) == (args.kv_energy is None):
        parser.error("--family xecomla needs exactly one of --kv-lora-rank and --kv-energy")
    if args.tpla_shards < 1:
        parser.error("--tpla-shards must be at least 1")
    fusable = (model_type if native else args.family) in fused.FAMILIES and args.tpla_shards == 1
    if args.graph == "auto":
        args.graph = "fused" if fusable else "traced"
    elif args.graph == "static" and (native or args.family not in fused.STATIC_FAMILIES):
        parser.error(f"--graph static builds GQA and narrow MLA layers: use it with --family "
                     f"{', '.join(fused.STATIC_FAMILIES)}, or --graph fused")
    elif args.graph == "fused" and not fusable:
        parser.error(f"--graph fused builds GQA, MLA and DeepSeekMoE layers: use it with --family llama, transmla, "
                     f"xecomla or native and no --tpla-shards (Mamba2, DMA's mask and TPLA's slices have no fused form)")
    if args.tpla_shards > 1 and args.family not in ("transmla", "xecomla", "zebra"):
        parser.error(f"--tpla-shards applies to MLA families (transmla, xecomla, zebra), not {args.family}")
    if args.tpla_shards > 1 and args.kv_lora_rank is not None and args.kv_lora_rank % args.tpla_shards:
        parser.error(f"--tpla-shards {args.tpla_shards} must divide --kv-lora-rank {args.kv_lora_rank}")
    absent = [f for f in TOKENIZER_FILES if not (args.checkpoint / f).exists()]
    if absent:
        parser.error(f"{args.checkpoint} lacks {', '.join(absent)}: "
                     "the export uses the checkpoint's tokenizer")
    return args


def check_tokenizer(checkpoint: Path, vocab_size: int) -> None:
    """Fails when the tokenizer can emit ids the model has no embedding for."""
    tok = json.loads((checkpoint / "tokenizer.json").read_text())
    vocab = (tok.get("model") or {}).get("vocab")
    ids = list(vocab.values()) if isinstance(vocab, dict) else []  # BPE/WordPiece; Unigram's is a list
    ids += [t["id"] for t in tok.get("added_tokens") or []]
    if ids and max(ids) >= vocab_size:
        raise SystemExit(f"error: {checkpoint}/tokenizer.json has ids up to {max(ids)} but the model's "
                         f"vocab_size is {vocab_size}")


def convert(args, teacher, cfg: llama.LlamaConfig, hf: dict):
    """(model, config.json dict, sidecar layers, bytes/token formula, name suffix, form switch or None)."""
    conversion = registry.CONVERSIONS[args.family]
    options = {o: getattr(args, o) for o in FAMILY_OPTIONS}
    built, record, suffix = conversion.convert(teacher, cfg, options, args.seed)
    checkpoint = {"tie_word_embeddings": bool(hf.get("tie_word_embeddings", False)),
                  "source_checkpoint": str(args.checkpoint.resolve())}
    recorded = {"conversion": record} if record is not None else {}
    if conversion.whole_config:
        config = dict(built.entries, **checkpoint, **recorded)
    else:
        config = dict(vars(cfg), **checkpoint, **recorded, **built.entries)
    return built.model, config, built.layers, built.formula, suffix, built.forms


def export_native(args) -> None:
    """A model trained with MLA, exported as it is (its compressed cache, its MoE)."""
    model, cfg, hf = hf_mla.load(args.checkpoint)
    check_tokenizer(args.checkpoint, cfg.vocab_size)
    moe = cfg.moe
    print(f"loaded {args.checkpoint}: {hf['model_type']}, {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
          f"{cfg.num_attention_heads} heads, MLA r_kv {cfg.kv_lora_rank} + d_r {cfg.qk_rope_head_dim}, "
          f"q_lora_rank {cfg.q_lora_rank}, rope_scaling {cfg.rope_scaling}, "
          + (f"MoE from layer {cfg.first_k_dense_replace}: {moe.n_routed_experts} experts, top {moe.num_experts_per_tok}"
             f" ({moe.topk_method}), {moe.n_shared_experts} shared" if moe else "no MoE"))
    name = args.name or args.checkpoint.resolve().name
    config = dict(deepseek.config_entry(cfg), model_type=hf["model_type"],
                  tie_word_embeddings=bool(hf.get("tie_word_embeddings", False)),
                  source_checkpoint=str(args.checkpoint.resolve()))
    graph = args.graph
    write_model_dir(args.out, model, hf["model_type"], name, config, deepseek.layer_layout(cfg), deepseek.FORMULA,
                    args.seed, dtype=args.dtype, graph=graph)
    for f in TOKENIZER_FILES:
        shutil.copyfile(args.checkpoint / f, args.out / f)
    if args.reference:
        mla.set_form(model, "expanded")  # the graph attends absorbed; the reference, expanded
        write_cases(model, args.out / "reference", cfg.vocab_size, args.seed)
    sidecar = json.loads((args.out / "kvbench.json").read_text())
    print(f"wrote {args.out} ({name}, {args.dtype}, {graph} graph)")
    print(f"cache: {sidecar['cache']['bytes_per_token']} bytes/token in {args.dtype} "
          f"({cfg.num_hidden_layers} layers x (r_kv {cfg.kv_lora_rank} + d_r {cfg.qk_rope_head_dim}))")


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    torch.use_deterministic_algorithms(True)
    if args.family == "native":
        export_native(args)
        return
    teacher, cfg, hf = hf_llama.load(args.checkpoint)
    check_tokenizer(args.checkpoint, cfg.vocab_size)
    out_of_range = [i for i in (args.mla_layers or []) if not 0 <= i < cfg.num_hidden_layers]
    if out_of_range:
        raise SystemExit(f"error: --mla-layers {out_of_range} outside 0..{cfg.num_hidden_layers - 1}")
    print(f"loaded {args.checkpoint}: {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
          f"{cfg.num_attention_heads} heads / {cfg.num_key_value_heads} KV heads x {cfg.head_dim}, "
          f"vocab {cfg.vocab_size}, rope_scaling {cfg.rope_scaling}")

    model, config, layers, formula, suffix, set_reference = convert(args, teacher, cfg, hf)
    tpla_entries = None
    if args.tpla_shards > 1:
        calibration = torch.randint(3, cfg.vocab_size, (8, 64), generator=torch.Generator().manual_seed(args.seed + 5))
        tpla_entries = tpla.apply_tpla(model, args.tpla_shards, args.tpla_transform, calibration, args.seed + 6)
        config = dict(config, tpla=dict(shards=args.tpla_shards, transform=args.tpla_transform,
                                        calibration="8 x 64 random ids"))
        suffix += f"-tpla{args.tpla_shards}-{args.tpla_transform}"
    if set_reference:
        set_reference(model, False)
    gap = None
    if args.family != "llama":
        gap = mla.logit_gap(teacher, model, cfg.vocab_size, args.seed + 1)
    name = args.name or args.checkpoint.resolve().name + suffix
    if args.graph == "static" and not fused.supports_static(model):
        print("error: --graph static needs every MLA layer's key head (r_kv + d_r) to be a multiple of 16 and at "
              "most 256 (GroupQueryAttention): pick --kv-lora-rank and --rope-dim so, or use --graph fused",
              file=sys.stderr)
        raise SystemExit(2)
    write_model_dir(args.out, model, args.family, name, config, layers, formula, args.seed, dtype=args.dtype,
                    graph=args.graph)
    sidecar_path = args.out / "kvbench.json"
    sidecar = json.loads(sidecar_path.read_text())
    if args.family == "zebra":
        sidecar["cache"]["fixed_state_bytes_formula"] = zebra.FIXED_FORMULA
        sidecar_path.write_text(json.dumps(sidecar, indent=1) + "\n")
    if tpla_entries is not None:
        tpla.record(args.out, model, tpla_entries, DTYPES[args.dtype][1])
        sidecar = json.loads(sidecar_path.read_text())
    for f in TOKENIZER_FILES:
        shutil.copyfile(args.checkpoint / f, args.out / f)
    if args.reference:
        if set_reference:
            set_reference(model, True)
        write_cases(model, args.out / "reference", cfg.vocab_size, args.seed, distinct=args.family == "dma")

    width = DTYPES[args.dtype][1]
    gqa = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim * width
    per_token = sidecar["cache"]["bytes_per_token"]
    print(f"wrote {args.out} ({name}, {args.dtype}, {args.graph} graph)")
    ratio = f", {gqa / per_token:.2f}x smaller" if per_token and per_token != gqa else ""
    print(f"cache: {per_token} bytes/token in {args.dtype} (the original's GQA cache: {gqa}{ratio})")
    if "per_device_bytes_per_token" in sidecar["cache"]:
        print(f"TPLA: {sidecar['cache']['per_device_bytes_per_token']} bytes/token on each of {args.tpla_shards} devices")
    if sidecar["cache"]["fixed_state_bytes"]:
        print(f"fixed state: {sidecar['cache']['fixed_state_bytes']} bytes per sequence")
    if gap is None:
        print("logit gap vs the original: none, the weights are the checkpoint's"
              + (" (rounded to float16 in the graph)" if args.dtype == "float16" else ""))
    else:
        print("logit gap vs the original (PyTorch, float32, 4 x 32 random ids): "
              f"max |Δ| {gap['max_abs']:.4g}, mean |Δ| {gap['mean_abs']:.4g} (mean |logit| "
              f"{gap['logit_scale']:.4g}), top-1 agreement {gap['top1_agree']:.3f}")
    if args.family in ("transmla", "xecomla", "zebra"):
        print("NOTE: this conversion is lossy; fine-tune or distil it from the original before "
              "reading anything into its accuracy.")
    if args.family == "dma" and config["keep_window"] < cfg.max_position_embeddings:
        print(f"NOTE: with A = 0 every key has the same gate, so beyond {config['keep_window']} tokens the "
              "kept keys are an arbitrary choice among ties until A and dt_proj are trained.")


if __name__ == "__main__":
    try:
        main()
    except hf_llama.CheckpointError as error:  # hf_mla raises the same class
        print(f"export_checkpoint.py: error: {error}", file=sys.stderr)
        sys.exit(2)
