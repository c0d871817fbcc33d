#!/usr/bin/env python3
"""Self-check of importing a Hugging Face Llama checkpoint: exits non-zero on a failure.

    /usr/bin/python3 scripts/check_checkpoint_import.py [--work DIR] [--no-deno]

It makes its own checkpoints: a tiny random Llama built with kvbench's modules, written the way
Hugging Face writes one (config.json in HF's key names, ``model.*`` tensor names, safetensors in
F32 or BF16, one file or shards, tied or untied head, with or without Llama 3 RoPE scaling). The
names are written here independently of ``hf_llama.weight_names``, so a naming slip shows up.

1. safetensors: F32/F16/BF16 round trips; BF16 rounds to nearest even and widens exactly.
2. Loading gives the original's parameters (F32 bit for bit; BF16: the BF16-rounded original) and
   logits, for tied and untied heads and sharded files; malformed checkpoints raise
   ``CheckpointError`` (biases, a missing or extra tensor, a wrong shape, other RoPE scalings);
   transformers 5's ``rope_parameters`` reads like the classic keys.
3. Llama 3 RoPE scaling: the expected frequencies are computed here by hand (math, float64) for
   three pairs — one kept, one blended, one divided by the factor — and compared with how the
   loaded model rotates q at a far position and with the MLA layers' frequencies after TransMLA and
   X-EcoMLA; a full-rank TransMLA of the scaled model reproduces its logits at every position
   (exact only if MLA rotates at the scaled frequencies).
4. ``export_checkpoint.py`` for every family, traced and (llama, transmla, xecomla) fused; the checkpoint's tokenizer files are copied;
   a family added in the registry alone (``registry.CONVERSIONS``) exports through it.
5. With Deno (skip with --no-deno): the exported llama graph's logits equal the *original* PyTorch
   model's within 1e-4 (prefill, decode steps, padded batch); every family's graph equals its
   PyTorch conversion within 1e-4; ``deno task eval`` runs MQAR on the llama export.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from families import hf_llama, llama, mla, tokenizer, transmla, xecomla  # noqa: E402
from families.common import StepContext, init_weights  # noqa: E402
from families.reference import write_cases  # noqa: E402
from families.safetensors_io import Checkpoint, SafetensorsFile, save_file, save_sharded  # noqa: E402

SEED = 20261201
TOL = 1e-4
# Small enough original context that the tiny model's frequencies fall in all three regimes.
SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
           "original_max_position_embeddings": 64}
failures: List[str] = []


def check(name: str, ok: bool, detail: str = "", show: bool = False) -> None:
    """Records a result; ``detail`` is printed on a failure (always with ``show``)."""
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and (show or not ok) else ''}")
    if not ok:
        failures.append(name)


def within(name: str, value: float, limit: float) -> None:
    check(name, value <= limit, f"{value:.3g} (limit {limit:g})", show=True)


# ---- writing a checkpoint the way Hugging Face does ------------------------------------------------

def hf_name(ours: str) -> str:
    """kvbench parameter name -> Hugging Face LlamaForCausalLM tensor name."""
    if ours == "lm_head.weight":
        return ours
    return "model." + re.sub(r"^layers\.(\d+)\.mixer\.", r"layers.\1.self_attn.", ours)


def hf_config(cfg: llama.LlamaConfig, tied: bool, scaling: Optional[dict], dtype: str) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "attention_dropout": 0.0, "pretraining_tp": 1,
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size, "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads, "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim, "rope_theta": cfg.rope_theta, "rms_norm_eps": cfg.rms_norm_eps,
        "max_position_embeddings": cfg.max_position_embeddings, "rope_scaling": scaling,
        "tie_word_embeddings": tied, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": {"F32": "float32", "BF16": "bfloat16"}[dtype],
    }


def make_original(tied: bool, scaling: Optional[dict], seed: int):
    cfg = llama.LlamaConfig(max_position_embeddings=512)
    if scaling is not None:
        cfg.rope_scaling = dict(scaling)
    model = llama.build(cfg)
    init_weights(model, torch.Generator().manual_seed(seed))
    if tied:
        with torch.no_grad():
            model.lm_head.weight.copy_(model.embed_tokens.weight)
    return model.eval(), cfg


def hf_tensors(model, tied: bool) -> Dict[str, torch.Tensor]:
    tensors = {hf_name(n): p.detach().clone() for n, p in model.named_parameters()}
    if tied:
        del tensors["lm_head.weight"]
    return tensors


def write_checkpoint(directory: Path, tensors: Dict[str, torch.Tensor], config: dict, dtype: str,
                     shards: int = 1) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if shards == 1:
        save_file(tensors, directory / "model.safetensors", dtype, metadata={"format": "pt"})
    else:
        names = sorted(tensors)
        save_sharded(tensors, directory, [names[i::shards] for i in range(shards)], dtype)
    tokenizer.write(directory, config["vocab_size"], config["max_position_embeddings"])
    # A mark that only the checkpoint's tokenizer_config.json has, to see that the export copied it.
    tok_cfg = json.loads((directory / "tokenizer_config.json").read_text())
    tok_cfg["from_checkpoint"] = True
    (directory / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2))
    return directory


def bf16_rounded(model):
    """A copy of ``model`` with every parameter rounded to BF16 (what a BF16 checkpoint stores)."""
    import copy

    out = copy.deepcopy(model)
    with torch.no_grad():
        for p in out.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    return out


@torch.no_grad()
def logits(model, length: int = 24, start: int = 0, seed: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, model.embed_tokens.num_embeddings, (2, length), generator=g)
    positions = torch.arange(start, start + length).unsqueeze(0).repeat(2, 1)
    return model(ids, torch.ones_like(ids), positions, model.empty_states(2))[0]


# ---- the checks ------------------------------------------------------------------------------------

def check_safetensors(work: Path) -> None:
    g = torch.Generator().manual_seed(1)
    x = {"a": torch.randn(3, 5, generator=g), "b": torch.randn(7, generator=g) * 1e3, "c": torch.tensor(2.5)}
    for dtype in ("F32", "F16", "BF16"):
        save_file(x, work / f"rt_{dtype}.safetensors", dtype)
    f32 = SafetensorsFile(work / "rt_F32.safetensors")
    check("safetensors F32 round trip is exact", all(torch.equal(f32.get(k), x[k]) for k in x))
    f16 = SafetensorsFile(work / "rt_F16.safetensors")
    check("safetensors F16 round trip equals torch's float16 rounding",
          all(torch.equal(f16.get(k), x[k].half().float()) for k in x))
    bf = SafetensorsFile(work / "rt_BF16.safetensors")
    check("safetensors BF16 round trip equals torch's bfloat16 rounding (nearest even)",
          all(torch.equal(bf.get(k), x[k].bfloat16().float()) for k in x))
    check("safetensors shapes and dtypes",
          bf.shape("a") == [3, 5] and bf.shape("c") == [] and bf.dtype("b") == "BF16")


def check_loading(work: Path) -> Dict[str, Path]:
    """Writes the four checkpoint variants and checks each loads to its original; returns their dirs."""
    dirs: Dict[str, Path] = {}
    variants = [
        ("f32-untied-llama3", "F32", False, SCALING, 1),
        ("f32-tied", "F32", True, None, 1),
        ("bf16-tied-sharded", "BF16", True, None, 3),
        ("bf16-untied-llama3", "BF16", False, SCALING, 1),
    ]
    for name, dtype, tied, scaling, shards in variants:
        original, cfg = make_original(tied, scaling, SEED)
        conf = hf_config(cfg, tied, scaling, dtype)
        d = write_checkpoint(work / "ckpt" / name, hf_tensors(original, tied), conf, dtype, shards)
        dirs[name] = d
        if shards > 1:
            ckpt, count = Checkpoint(d), len(hf_tensors(original, tied))
            check(f"{name}: the index spreads {count} {dtype} tensors over {shards} files",
                  len(ckpt.files) == shards and ckpt.dtypes() == [dtype] and len(ckpt.names()) == count)
        loaded, lcfg, _ = hf_llama.load(d)
        expect = original if dtype == "F32" else bf16_rounded(original)
        pairs = zip(expect.state_dict().items(), loaded.state_dict().items())
        same = all(na == nb and torch.equal(a, b) for (na, a), (nb, b) in pairs)
        reference = "original" if dtype == "F32" else "BF16-rounded original"
        check(f"{name}: parameters equal the {reference}", same)
        check(f"{name}: config round trip", vars(lcfg) == vars(cfg), f"{vars(lcfg)}")
        gap = float((logits(expect) - logits(loaded)).abs().max())
        within(f"{name}: logits equal the original's", gap, 0.0)
        if dtype == "BF16":
            gap = float((logits(original) - logits(loaded)).abs().max())
            print(f"     (BF16 rounding itself moves the logits by up to {gap:.3g})")
    return dirs


def expect_error(name: str, directory: Path, fragment: str) -> None:
    try:
        hf_llama.load(directory)
    except hf_llama.CheckpointError as e:
        check(f"rejects {name}", fragment in str(e), str(e)[:150], show=True)
        return
    check(f"rejects {name}", False, "loaded without complaint")


def check_errors(work: Path) -> None:
    original, cfg = make_original(False, None, SEED)
    base = hf_tensors(original, False)
    conf = hf_config(cfg, False, None, "F32")
    bad = work / "ckpt" / "bad"
    biased = dict(base, **{"model.layers.0.self_attn.q_proj.bias": torch.zeros(64)})
    write_checkpoint(bad, biased, conf, "F32")
    expect_error("attention bias tensors", bad, "bias")
    write_checkpoint(bad, base, dict(conf, attention_bias=True), "F32")
    expect_error("attention_bias: true", bad, "attention_bias")
    write_checkpoint(bad, {k: v for k, v in base.items() if k != "model.norm.weight"}, conf, "F32")
    expect_error("a missing tensor", bad, "model.norm.weight")
    write_checkpoint(bad, {k: v for k, v in base.items() if k != "lm_head.weight"}, conf, "F32")
    expect_error("an untied checkpoint without lm_head", bad, "lm_head.weight")
    write_checkpoint(bad, base, dict(conf, num_hidden_layers=1), "F32")
    expect_error("tensors of layers the config doesn't have", bad, "model.layers.1.")
    write_checkpoint(bad, base, dict(conf, intermediate_size=96), "F32")
    expect_error("a shape that disagrees with config.json", bad, "shape")
    write_checkpoint(bad, base, dict(conf, rope_scaling={"rope_type": "yarn", "factor": 4.0}), "F32")
    expect_error("yarn rope scaling", bad, "yarn")
    write_checkpoint(bad, base, dict(conf, hidden_act="gelu"), "F32")
    expect_error("another activation", bad, "hidden_act")


def check_config_forms() -> None:
    """The same RoPE written the classic way and the transformers-5 way (``rope_parameters``)."""
    _, cfg = make_original(False, SCALING, SEED)
    classic = hf_config(cfg, False, SCALING, "F32")
    newer = {k: v for k, v in classic.items() if k not in ("rope_theta", "rope_scaling")}
    newer["rope_parameters"] = dict(SCALING, rope_theta=cfg.rope_theta)
    a, b = hf_llama.config_from_hf(classic)[0], hf_llama.config_from_hf(newer)[0]
    check("rope_parameters (transformers 5) reads as rope_theta + rope_scaling",
          vars(a) == vars(b) == vars(cfg))
    no_head_dim = {k: v for k, v in classic.items() if k != "head_dim"}
    check("head_dim defaults to hidden_size / num_attention_heads",
          hf_llama.config_from_hf(no_head_dim)[0].head_dim == cfg.hidden_size // cfg.num_attention_heads)


def expected_inv_freq(j: int, dim: int, theta: float, s: dict) -> float:
    """Llama 3 scaled inverse frequency of pair ``j``, by hand in float64."""
    f = 1.0 / theta ** (2 * j / dim)
    w = 2 * math.pi / f
    ctx, low, high = s["original_max_position_embeddings"], s["low_freq_factor"], s["high_freq_factor"]
    if w < ctx / high:
        return f
    if w > ctx / low:
        return f / s["factor"]
    smooth = (ctx / w - low) / (high - low)
    return (1 - smooth) * f / s["factor"] + smooth * f


@torch.no_grad()
def check_rope_scaling(ckpt: Path) -> None:
    model, cfg, _ = hf_llama.load(ckpt)
    d, half = cfg.head_dim, cfg.head_dim // 2
    ctx = SCALING["original_max_position_embeddings"]
    wavelength = [2 * math.pi * cfg.rope_theta ** (2 * j / d) for j in range(half)]
    kept = max(j for j in range(half) if wavelength[j] < ctx / SCALING["high_freq_factor"])
    divided = min(j for j in range(half) if wavelength[j] > ctx / SCALING["low_freq_factor"])
    blended = kept + 1
    assert blended < divided, "the tiny config should have a blended frequency"
    picks = {"kept": kept, "blended": blended, "divided": divided}
    expected = {j: expected_inv_freq(j, d, cfg.rope_theta, SCALING) for j in range(half)}
    print(f"     pairs {picks}: expected inverse frequencies "
          + ", ".join(f"{j}: {expected[j]:.6g} (unscaled {1 / cfg.rope_theta ** (2 * j / d):.6g})"
                      for j in picks.values()))

    # How the loaded model's attention rotates q at a far position, against the hand-made angles.
    attn = model.layers[0].mixer
    x = torch.randn(1, 1, cfg.hidden_size, generator=torch.Generator().manual_seed(3))
    pos = 37
    one = torch.ones(1, 1)
    step = StepContext(positions=torch.tensor([[pos]]), key_mask=one, token_mask=one,
                       bias=torch.zeros(1, 1, 1, 1))
    q, _, _ = attn.project(x, step)
    q0 = attn.q_proj(x).view(1, 1, cfg.num_attention_heads, d).transpose(1, 2).to(torch.float64)
    for label, j in picks.items():
        a, b = q0[..., j], q0[..., j + half]
        angle = pos * expected[j]
        cos, sin = math.cos(angle), math.sin(angle)
        want = torch.stack([a * cos - b * sin, b * cos + a * sin])
        got = torch.stack([q[..., j], q[..., j + half]]).to(torch.float64)
        within(f"llama3 RoPE, {label} pair {j}: q at position {pos} rotated by the hand-computed angle",
               float((want - got).abs().max()), 1e-4)

    # The unscaled model differs, so the scaling is really in the logits' path.
    plain = llama.build(llama.LlamaConfig(**{k: v for k, v in vars(cfg).items() if k != "rope_scaling"}))
    plain.load_state_dict(model.state_dict())
    diff = float((logits(model.eval(), start=40) - logits(plain.eval(), start=40)).abs().max())
    check("llama3 RoPE changes the logits (the scaling is wired in)", diff > 1e-2, f"max |Δ| {diff:.3g}",
          show=True)

    # The MLA conversions rotate their kept pairs at the same scaled frequencies.
    tm, tcfgs = transmla.convert(model, cfg, kv_lora_rank=24, d_r=8, freqfold=2, calib_seed=SEED)
    xm, xcfgs = xecomla.convert(model, cfg, mla_layers=[0], d_r=8, q_lora_rank=48, kv_lora_rank=16)
    for family, layer in (("transmla", tm.layers[0].mixer), ("xecomla", xm.layers[0].mixer)):
        want = torch.tensor([expected[p] for p in layer.cfg.pairs()], dtype=torch.float64)
        within(f"llama3 RoPE in {family}'s MLA: inverse frequencies of pairs {layer.cfg.pairs()}",
               float((layer.inv_freq.to(torch.float64) - want).abs().max() / want.abs().max()), 1e-6)
    # Full rank with every RoPE dim kept: TransMLA is exact at any position only if MLA's RoPE
    # uses the teacher's scaled frequencies.
    width = cfg.num_key_value_heads * d
    full, _ = transmla.convert(model, cfg, kv_lora_rank=width, d_r=width, freqfold=1, calib_seed=SEED)
    for form in mla.FORMS:
        mla.set_form(full, form)
        gap = float((logits(model, start=100) - logits(full, start=100)).abs().max())
        within(f"full-rank TransMLA of the llama3-scaled model, {form}, positions 100..123", gap, TOL)


def run(cmd: List[str], **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, **kw)


def export(ckpt: Path, out: Path, family: str, *options: str, reference: bool = True) -> bool:
    cmd = [sys.executable, str(ROOT / "scripts" / "export_checkpoint.py"), "--checkpoint", str(ckpt),
           "--family", family, "--out", str(out), "--dtype", "float32", "--seed", "3", *options]
    result = run(cmd + (["--reference"] if reference else []))
    check(f"export_checkpoint.py --family {' '.join([family, *options])} ({ckpt.name})",
          result.returncode == 0, result.stderr.strip()[-400:])
    for line in result.stdout.splitlines():
        if line.startswith(("cache", "fixed", "logit gap", "NOTE")):
            print("     " + line)
    if result.returncode != 0:
        return False
    sidecar = json.loads((out / "kvbench.json").read_text())
    config = json.loads((out / "config.json").read_text())
    copied = all((out / f).read_bytes() == (ckpt / f).read_bytes()
                 for f in ("tokenizer.json", "tokenizer_config.json"))
    check(f"{out.name}: the checkpoint's tokenizer files were copied", copied)
    check(f"{out.name}: sidecar family {sidecar['family']}, {sidecar['cache']['bytes_per_token']} B/token",
          sidecar["family"] == family)
    graph = next((g for g in ("fused", "static") if g in out.name), "traced")  # the plans name their graphs so
    check(f"{out.name}: a {graph} graph", sidecar.get("graph", "traced") == graph)
    if graph == "static":
        # A static export carries its scoring graph (GQA and MLA alike), whose weights are model.onnx's data
        # file's bytes (kvbench shares them between the two sessions).
        score = out / "score.onnx"
        data = out / "model.onnx.data"
        shared = score.exists() and data.exists() and score.stat().st_size < data.stat().st_size / 10
        check(f"{out.name}: a scoring graph that reads model.onnx's weights",
              sidecar.get("score_graph") == "score.onnx" and shared)
    scaled = json.loads((ckpt / "config.json").read_text()).get("rope_scaling")
    if scaled:
        mla_layers = [m for m in config.get("mla") or [] if m]  # transmla/xecomla; zebra's are in "layers"
        mla_layers += [m for m in config.get("layers") or [] if m.get("kind") == "mla"]
        recorded = [config.get("rope_scaling")] + [m.get("rope_scaling") for m in mla_layers]
        check(f"{out.name}: config.json records the llama3 rope_scaling",
              all(r == scaled for r in recorded))
    return True


def check_exports(work: Path, ckpts: Dict[str, Path], deno: bool) -> None:
    scaled, tied = ckpts["f32-untied-llama3"], ckpts["bf16-tied-sharded"]
    exports = work / "export"
    plans = [
        (scaled, "llama-f32-untied-llama3", "llama", ["--graph", "traced"]),
        (scaled, "transmla-llama3", "transmla", "--kv-lora-rank 24 --rope-dim 8 --freqfold 2 --graph traced".split()),
        (scaled, "xecomla-llama3", "xecomla",
         "--kv-lora-rank 16 --rope-dim 8 --q-lora-rank 48 --mla-layers 0 --graph traced".split()),
        (scaled, "zebra-llama3", "zebra",
         "--mla-layers 0 --kv-lora-rank 16 --rope-dim 8 --q-lora-rank 48".split()),
        (scaled, "dma-llama3", "dma", "--keep-window 64".split()),
        (scaled, "transmla-llama3-tpla2-hadamard", "transmla",
         "--kv-lora-rank 16 --rope-dim 8 --freqfold 2 --tpla-shards 2 --tpla-transform hadamard".split()),
        (scaled, "zebra-llama3-tpla4-pca", "zebra",
         "--mla-layers 0 --kv-lora-rank 16 --rope-dim 8 --q-lora-rank 48 --tpla-shards 4 --tpla-transform pca".split()),
        (tied, "llama-bf16-tied-sharded", "llama", ["--graph", "traced"]),
        (tied, "xecomla-fused-bf16-tied-energy", "xecomla", "--kv-energy 0.9 --rope-dim 8".split()),
        (scaled, "llama-fused-f32-untied-llama3", "llama", []),  # --graph auto: fused
        (tied, "llama-fused-bf16-tied-sharded", "llama", ["--graph", "fused"]),
        (scaled, "llama-static-f32-untied-llama3", "llama", ["--graph", "static"]),
        (scaled, "xecomla-static-llama3", "xecomla",
         "--kv-lora-rank 24 --rope-dim 8 --q-lora-rank 48 --mla-layers 0 --graph static".split()),
        (scaled, "transmla-fused-llama3", "transmla", "--kv-lora-rank 24 --rope-dim 8 --freqfold 2 --graph fused".split()),
        (scaled, "xecomla-fused-llama3", "xecomla",
         "--kv-lora-rank 16 --rope-dim 8 --q-lora-rank 48 --mla-layers 0 --graph fused".split()),
    ]
    # A latent GroupQueryAttention can't take (16 + 8 = 24, not a multiple of 16) is refused in one line.
    narrow = run([sys.executable, str(ROOT / "scripts" / "export_checkpoint.py"), "--checkpoint", str(scaled),
                  "--family", "xecomla", "--out", str(exports / "refused"), "--kv-lora-rank", "16", "--rope-dim", "8",
                  "--mla-layers", "0", "--graph", "static"])
    check("export_checkpoint.py --graph static refuses an MLA key head of 24 (exit 2, one line)",
          narrow.returncode == 2 and "multiple of 16" in narrow.stderr and not (exports / "refused").exists(),
          narrow.stderr.strip()[-300:])
    done = []
    for ckpt, name, family, options in plans:
        if export(ckpt, exports / name, family, *options, reference=family != "llama"):
            done.append(exports / name)
    # The llama exports are compared with the ORIGINAL model (built here, not loaded), through Deno.
    originals = [("llama-f32-untied-llama3", False, SCALING, "F32"), ("llama-bf16-tied-sharded", True, None, "BF16"),
                 ("llama-fused-f32-untied-llama3", False, SCALING, "F32"),
                 ("llama-fused-bf16-tied-sharded", True, None, "BF16"),
                 ("llama-static-f32-untied-llama3", False, SCALING, "F32")]
    for name, tied_, scaling, dtype in originals:
        original, _ = make_original(tied_, scaling, SEED)
        if dtype == "BF16":
            original = bf16_rounded(original)  # the checkpoint holds BF16: that is the model it describes
        write_cases(original, exports / name / "reference", original.embed_tokens.num_embeddings, SEED)
    if not deno:
        print("skipped the Deno checks (--no-deno)")
        return
    deno_cmd = os.environ.get("DENO", "npx -y deno@2.9.6").split()
    result = run(deno_cmd + ["task", "parity", "--device", "cpu", "--model", ",".join(str(d) for d in done)])
    rows = [line.split("\t") for line in result.stdout.splitlines() if line.count("\t") == 6]
    check("deno task parity ran", len(rows) == 3 * len(done) + 1, result.stderr.strip()[-400:])
    for row in rows[1:]:
        model, _, case, cpu = row[:4]
        what = "the original PyTorch model" if model.startswith("llama") else "its PyTorch conversion"
        within(f"ONNX {model} {case} logits vs {what} (Deno, CPU)", float(cpu), TOL)
    llama_dir = exports / "llama-f32-untied-llama3"
    result = run(deno_cmd + ["task", "eval", "--model", str(llama_dir), "--tasks", "mqar", "--limit", "2",
                             "--db", str(work / "eval.duckdb")])
    check("deno task eval --tasks mqar --limit 2 runs on the llama export", result.returncode == 0,
          (result.stdout + result.stderr).strip()[-600:] if result.returncode else "")


def check_toy_family(ckpt: Path, work: Path) -> None:
    """A family added in the registry alone (its maker and one ``CONVERSIONS`` entry) exports through
    export_checkpoint.py, which names no family itself."""
    import importlib

    from families import registry

    def toy(teacher, cfg, options, seed):
        return registry.as_llama(teacher, cfg), {"toy": options["keep_window"]}, "-toy"

    registry.CONVERSIONS["toy"] = registry.Conversion(("keep_window",), ("keep_window",), toy)
    try:
        exporter = importlib.import_module("export_checkpoint")
        exporter = importlib.reload(exporter)  # its family table is read from the registry at import
        out = work / "export" / "toy"
        try:
            exporter.main(["--checkpoint", str(ckpt), "--family", "toy", "--keep-window", "7", "--out", str(out),
                           "--dtype", "float32"])
        except SystemExit as error:  # argparse refusing the family: the exporter names families itself
            check("a family added in the registry alone exports", False, f"export_checkpoint exited: {error}")
            return
        sidecar = json.loads((out / "kvbench.json").read_text())
        config = json.loads((out / "config.json").read_text())
        check("a family added in the registry alone exports (family toy, its option, its name)",
              sidecar["family"] == "toy" and config.get("conversion") == {"toy": 7} and sidecar["name"].endswith("-toy"),
              f"{sidecar['family']}, {config.get('conversion')}, {sidecar['name']}")
    finally:
        del registry.CONVERSIONS["toy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="keep checkpoints and exports here (default: a temp dir)")
    parser.add_argument("--no-deno", action="store_true", help="skip the ONNX checks that need Deno")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    work = args.work or Path(tempfile.mkdtemp(prefix="kvbench-ckpt-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        check_safetensors(work)
        ckpts = check_loading(work)
        check_errors(work)
        check_config_forms()
        check_rope_scaling(ckpts["f32-untied-llama3"])
        check_exports(work, ckpts, not args.no_deno)
        check_toy_family(ckpts["f32-untied-llama3"], work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(failures)} failure(s)" + (": " + ", ".join(failures) if failures else ""))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
