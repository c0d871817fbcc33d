#!/usr/bin/env python3
"""Self-checks of the MLA family code, in PyTorch (no ONNX): exits non-zero on a failure.

    /usr/bin/python3 scripts/check_families.py

1. MLA's absorbed form equals its expanded form (logits and cache, 1e-5) on random models and
   inputs: a left-padded prefill, single-token decode steps and a multi-token chunk after a past;
   so do grouped-head and per-head attention (``common.set_grouped_heads``) for GQA, DMA, MLA and
   a hybrid stack.
2. TransMLA and X-EcoMLA reproduce their teacher's logits (1e-4) when nothing is truncated, which
   shows the conversions are exact before truncation. Where the method itself (not the rank) is
   lossy, the check uses the setting that removes that loss and says so:
   - TransMLA drops RoPE from the key components it does not keep as k_pe: exact at any position
     when d_r = n_kv·d_h (all kept, freqfold 1); with the fixture's d_r it is checked at position 0,
     where RoPE is the identity.
   - X-EcoMLA's shared k_pe is the mean of the KV heads' RoPE rows and its nope rows lose RoPE:
     exact for an MQA teacher (n_kv = 1) with d_nope = 0 at any position, or d_nope > 0 at
     position 0.
3. Prints the (lossy) conversion error of the fixtures' own settings.
4. DMA, Mamba2, Zebra: Mamba2's chunked SSD (exported) == its token-by-token recurrence
   (reference) within 1e-5; leading pads leave the Mamba2 state exactly zero; Zebra's state bytes
   == its formulas; DMA's mask == a literal top-k; the exported TopK's K comes from a Shape; the
   DMA fixture's top-k boundaries have no near-ties.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from families import llama, mla, transmla, xecomla  # noqa: E402
from families.common import CausalLM, init_weights  # noqa: E402
from families.reference import positions_for  # noqa: E402

SEED = 20261123
failures = []


def check(name: str, value: float, limit: float) -> None:
    ok = value <= limit
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {value:.3g} (limit {limit:g})")
    if not ok:
        failures.append(name)


def padded_steps(g: torch.Generator, vocab: int, lengths, distinct: bool = False):
    """(ids, mask) steps over 3 rows: a prefill left-padded to 9 (rows of ``lengths`` real tokens),
    three single-token steps and a 4-token chunk, each mask over past + current slots."""
    ids = torch.zeros(3, 9, dtype=torch.int64)
    mask = torch.zeros(3, 9, dtype=torch.int64)
    for r, n in enumerate(lengths):
        if distinct:
            drawn = torch.randperm(vocab - 3, generator=g)[:n]
        else:
            drawn = torch.randint(0, vocab - 3, (n,), generator=g)
        ids[r, 9 - n:] = drawn + 3
        mask[r, 9 - n:] = 1
    steps = [(ids, mask)]
    for _ in range(3):
        mask = torch.cat([mask, torch.ones(3, 1, dtype=torch.int64)], dim=1)
        steps.append((torch.randint(3, vocab, (3, 1), generator=g), mask))
    mask = torch.cat([mask, torch.ones(3, 4, dtype=torch.int64)], dim=1)
    steps.append((torch.randint(3, vocab, (3, 4), generator=g), mask))
    return steps


@torch.no_grad()
def run_both(model: CausalLM, steps):
    """Runs ``steps`` (list of (ids, mask) with the mask over past + current) in both forms."""
    results = {}
    for form in mla.FORMS:
        mla.set_form(model, form)
        state = model.empty_states(steps[0][0].shape[0])
        outs = []
        for ids, mask in steps:
            logits, state = model(ids, mask, positions_for(mask)[:, -ids.shape[1]:], state)
            outs.append(logits)
        results[form] = (outs, state)
    mla.set_form(model, "absorbed")
    return results


def absorbed_vs_expanded() -> None:
    g = torch.Generator().manual_seed(SEED)
    variants = {
        "q_proj, no norms": dict(),
        "q_lora + q/kv norms": dict(q_lora_rank=24, q_a_layernorm=True, kv_a_layernorm=True),
        "d_nope 0, wide r_kv": dict(qk_nope_head_dim=0, kv_lora_rank=40, qk_rope_head_dim=16),
    }
    for name, extra in variants.items():
        wider = dict(extra, kv_lora_rank=extra.get("kv_lora_rank", 16) + 8)  # layers differ in r_kv
        cfgs = [mla.MLAConfig(**extra), mla.MLAConfig(**wider)]
        model = CausalLM(300, 64, 96, [mla.MLAttention(c) for c in cfgs], 1e-5)
        init_weights(model, g)
        model.eval()
        lengths = [3, 9, 6]
        steps = padded_steps(g, 300, lengths)
        res = run_both(model, steps)
        (la, sa), (le, se) = res["absorbed"], res["expanded"]
        worst = 0.0
        for a, e, (_, m) in zip(la, le, steps):
            real = m[:, -a.shape[1]:].bool()  # logits at pad slots are not compared
            worst = max(worst, float((a - e).abs()[real].max()))
        check(f"MLA absorbed == expanded logits [{name}]", worst, 1e-5)
        cache_gap = max(float((a - e).abs().max()) for a, e in zip(sa, se))
        check(f"MLA absorbed == expanded cache  [{name}]", cache_gap, 1e-5)


@torch.no_grad()
def grouped_vs_per_head() -> None:
    """``set_grouped_heads`` changes how the scores are multiplied, not what they are: GQA, DMA,
    absorbed MLA and a GQA/MLA/Mamba2 stack on a left-padded prefill, decode steps and a chunk."""
    from families import dma as dma_family
    from families.common import set_grouped_heads
    from families.mamba2 import Mamba2Config, Mamba2Mixer

    g = torch.Generator().manual_seed(SEED + 5)
    lcfg = llama.LlamaConfig(num_attention_heads=8, num_key_value_heads=2, head_dim=8)
    models = {
        "GQA 8 heads / 2 KV": llama.build(lcfg),
        "DMA 8 heads / 2 KV, keep 5": dma_family.build(dma_family.DMAConfig(num_attention_heads=8,
                                                                            num_key_value_heads=2, head_dim=8,
                                                                            keep_window=5)),
        "absorbed MLA, q_lora": CausalLM(512, 64, 96, [mla.MLAttention(mla.MLAConfig(q_lora_rank=24))] * 2, 1e-5),
        "GQA + MLA + Mamba2": CausalLM(512, 64, 96, [llama.GQAttention(lcfg), mla.MLAttention(mla.MLAConfig()),
                                                     Mamba2Mixer(Mamba2Config.from_attention(64, 4, 2, 16))], 1e-5),
    }
    for name, model in models.items():
        init_weights(model, g)
        model.eval()
        # Distinct prompt tokens: DMA ranks keys by value, and a repeated token ties.
        steps = padded_steps(g, 503, [3, 9, 6], distinct=True)
        runs = []
        for on in (False, True):
            assert set_grouped_heads(model, on) > 0
            state, outs = model.empty_states(3), []
            for step_ids, step_mask in steps:
                logits, state = model(step_ids, step_mask, positions_for(step_mask)[:, -step_ids.shape[1]:], state)
                outs.append(logits)
            runs.append((outs, state))
        set_grouped_heads(model, False)
        worst = 0.0
        for a, b, (_, m) in zip(runs[0][0], runs[1][0], steps):
            real = m[:, -a.shape[1]:].bool()
            worst = max(worst, float((a - b).abs()[real].max()))
        check(f"grouped heads == per-head logits [{name}]", worst, 1e-5)
        check(f"grouped heads == per-head cache  [{name}]",
              max(float((a - b).abs().max()) for a, b in zip(runs[0][1], runs[1][1])), 1e-5)


def teacher(cfg: llama.LlamaConfig, seed: int = SEED) -> CausalLM:
    model = llama.build(cfg)
    init_weights(model, torch.Generator().manual_seed(seed))
    return model.eval()


def conversions() -> None:
    cfg = llama.LlamaConfig()
    base = teacher(cfg)
    n_kv_dh = cfg.num_key_value_heads * cfg.head_dim

    full, _ = transmla.convert(base, cfg, kv_lora_rank=n_kv_dh, d_r=n_kv_dh, freqfold=1, calib_seed=SEED + 2)
    for form in mla.FORMS:
        mla.set_form(full, form)
        gap = mla.logit_gap(base, full, cfg.vocab_size, SEED + 3)
        check(f"TransMLA full rank, d_r = n_kv·d_h, any position [{form}]", gap["max_abs"], 1e-4)
    latent = n_kv_dh - 8 + n_kv_dh  # K_nope + V
    full, _ = transmla.convert(base, cfg, kv_lora_rank=latent, d_r=8, freqfold=2, calib_seed=SEED + 2)
    gap = mla.logit_gap(base, full, cfg.vocab_size, SEED + 3, zero_positions=True)
    check("TransMLA full rank (r_kv 56), d_r 8, freqfold 2, position 0", gap["max_abs"], 1e-4)
    print("     (same model at real positions, RoPE dropped from 24 of 32 key dims:",
          fmt(mla.logit_gap(base, full, cfg.vocab_size, SEED + 3)) + ")")

    mq_cfg = llama.LlamaConfig(num_key_value_heads=1)
    mq = teacher(mq_cfg, SEED + 5)
    for layers in ([0, 1], [1]):
        conv, _ = xecomla.convert(mq, mq_cfg, layers, d_r=mq_cfg.head_dim, q_lora_rank=None, kv_energy=1.0)
        gap = mla.logit_gap(mq, conv, mq_cfg.vocab_size, SEED + 3)
        check(f"X-EcoMLA full rank, MQA teacher, d_nope 0, mla_layers {layers}, any position",
              gap["max_abs"], 1e-4)
    conv, _ = xecomla.convert(mq, mq_cfg, [0, 1], d_r=8, q_lora_rank=None, kv_energy=1.0)
    gap = mla.logit_gap(mq, conv, mq_cfg.vocab_size, SEED + 3, zero_positions=True)
    check("X-EcoMLA full rank, MQA teacher, d_nope 8, position 0", gap["max_abs"], 1e-4)
    conv, _ = xecomla.convert(base, cfg, [0, 1], d_r=8, q_lora_rank=None, kv_energy=1.0)
    print("     (GQA teacher n_kv 2, full rank, position 0 — k_pe is a mean of 2 heads, not exact:",
          fmt(mla.logit_gap(base, conv, cfg.vocab_size, SEED + 3, zero_positions=True)) + ")")


def fmt(gap: dict) -> str:
    return (f"max |Δ| {gap['max_abs']:.3g}, mean |Δ| {gap['mean_abs']:.3g} "
            f"(mean |logit| {gap['logit_scale']:.3g}), top-1 agreement {gap['top1_agree']:.0%}")


def fixture_settings() -> None:
    """The lossy conversions as make_fixtures.py runs them."""
    cfg = llama.LlamaConfig()
    base = teacher(cfg)
    for r_kv in (24, 56):
        conv, _ = transmla.convert(base, cfg, kv_lora_rank=r_kv, d_r=8, freqfold=2, calib_seed=SEED + 2)
        print(f"info TransMLA r_kv {r_kv} + d_r 8, freqfold 2 vs teacher: "
              + fmt(mla.logit_gap(base, conv, cfg.vocab_size, SEED + 3)))
    cfg3 = llama.LlamaConfig(num_hidden_layers=3)
    base3 = teacher(cfg3)
    for layer, tau in zip(base3.layers, [6.0, 10.0, 14.0]):
        xecomla.decay_spectrum(layer.mixer.k_proj, tau)
        xecomla.decay_spectrum(layer.mixer.v_proj, tau)
    conv, cfgs = xecomla.convert(base3, cfg3, [0, 2], d_r=8, q_lora_rank=48, kv_energy=0.9)
    ranks = [c.kv_lora_rank if c else "gqa" for c in cfgs]
    print(f"info X-EcoMLA hybrid {ranks}, d_r 8, r_q 48 vs teacher: "
          + fmt(mla.logit_gap(base3, conv, cfg3.vocab_size, SEED + 3)))

# ---- DMA, Mamba2 and Zebra ----------------------------------------------------------------


def check_at_least(name: str, value: float, floor: float) -> None:
    ok = value >= floor
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {value:.3g} (at least {floor:g})")
    if not ok:
        failures.append(name)


def tiny_mamba2(cfg, g: torch.Generator):
    """A Mamba2 mixer with random weights of ~unit-variance outputs and decays in (0.37, 1)."""
    from families import mamba2

    mixer = mamba2.Mamba2Mixer(cfg)
    with torch.no_grad():
        for p in mixer.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / (p.shape[-1] ** 0.5 if p.dim() > 1 else 2.0))
        mixer.A_log.copy_(torch.rand(cfg.nheads, generator=g))
    return mixer.eval()


def mixer_ctx(token_mask: torch.Tensor):
    """A StepContext for a Mamba2 mixer, which reads only the chunk's token mask."""
    from families.common import StepContext

    seq = token_mask.shape[1]
    return StepContext(positions=torch.zeros_like(token_mask), key_mask=token_mask, token_mask=token_mask,
                       bias=torch.zeros(token_mask.shape[0], 1, seq, seq))


@torch.no_grad()
def mamba2_ssd_vs_recurrence() -> None:
    """The chunked SSD scan (ONNX export) equals the token-by-token recurrence (reference): the
    bare scan around the block size, then a whole mixer fed a non-zero conv and SSM state."""
    from families import mamba2

    g = torch.Generator().manual_seed(SEED + 11)
    worst = 0.0
    for seq in (1, 2, 7, 8, 9, 16, 17, 33):
        bsz, h, p, n = 2, 3, 5, 4
        x = torch.randn(bsz, seq, h, p, generator=g)
        a = -2.0 * torch.rand(bsz, seq, h, generator=g)
        b = torch.randn(bsz, seq, h, n, generator=g)
        c = torch.randn(bsz, seq, h, n, generator=g)
        s0 = torch.randn(bsz, h, p, n, generator=g)
        y1, f1 = mamba2.ssd_chunked(x, a, b, c, s0, 8)
        y2, f2 = mamba2.ssd_recurrent(x, a, b, c, s0)
        worst = max(worst, float((y1 - y2).abs().max()), float((f1 - f2).abs().max()))
    check("Mamba2 SSD scan == recurrence, lengths 1..33, block 8", worst, 1e-5)

    cfg = mamba2.Mamba2Config.from_attention(hidden=32, heads=4, kv_heads=2, head_dim=8, chunk=8)
    mixer = tiny_mamba2(cfg, g)
    worst = 0.0
    for seq in (1, 5, 8, 20):
        hidden = torch.randn(2, seq, cfg.hidden_size, generator=g)
        past = [torch.randn(2, cfg.conv_dim, cfg.d_conv, generator=g),
                0.5 * torch.randn(2, cfg.nheads, cfg.headdim, cfg.d_state, generator=g)]
        outs = {}
        for mode in ("ssd", "recurrent"):
            mixer.mode = mode
            outs[mode] = mixer(hidden, mixer_ctx(torch.ones(2, seq, dtype=torch.int64)), past)
        (y1, p1), (y2, p2) = outs["ssd"], outs["recurrent"]
        worst = max(worst, float((y1 - y2).abs().max()), *(float((u - v).abs().max()) for u, v in zip(p1, p2)))
    check("Mamba2 mixer SSD == recurrence (output, conv and SSM state) after a past", worst, 1e-5)


@torch.no_grad()
def mamba2_left_padding() -> None:
    """Leading pads leave both states exactly zero; a left-padded row matches the row alone."""
    from families import mamba2

    g = torch.Generator().manual_seed(SEED + 12)
    cfg = mamba2.Mamba2Config.from_attention(hidden=32, heads=4, kv_heads=2, head_dim=8, chunk=8)
    mixer = tiny_mamba2(cfg, g)
    zeros = [torch.zeros(1, cfg.conv_dim, cfg.d_conv), torch.zeros(1, cfg.nheads, cfg.headdim, cfg.d_state)]
    pads, real = 11, 6
    hidden = torch.randn(1, pads + real, cfg.hidden_size, generator=g)  # pad slots hold non-zero inputs
    mask = torch.cat([torch.zeros(1, pads, dtype=torch.int64), torch.ones(1, real, dtype=torch.int64)], 1)
    for mode in ("ssd", "recurrent"):
        mixer.mode = mode
        _, after_pads = mixer(hidden[:, :pads], mixer_ctx(mask[:, :pads]), zeros)
        check(f"Mamba2 state after {pads} pads only [{mode}]", max(float(s.abs().max()) for s in after_pads), 0.0)
        y_pad, s_pad = mixer(hidden, mixer_ctx(mask), zeros)
        y_one, s_one = mixer(hidden[:, pads:], mixer_ctx(mask[:, pads:]), zeros)
        diff = max(float((y_pad[:, pads:] - y_one).abs().max()),
                   *(float((u - v).abs().max()) for u, v in zip(s_pad, s_one)))
        check(f"Mamba2 left-padded row == row alone, outputs and states [{mode}]", diff, 1e-5)


@torch.no_grad()
def zebra_cache_formula() -> None:
    """The Zebra hybrid's declared states hold exactly the formula's bytes (fp32 and fp16)."""
    from families import zebra
    from families.export import cache_bytes

    cfg = llama.LlamaConfig(num_hidden_layers=4)
    model, cfgs = zebra.convert(teacher(cfg), cfg, zebra.ZebraConfig(), torch.Generator().manual_seed(SEED + 7))
    bad = sum(cache_bytes(model.state_decls(), s) != zebra.expected_cache(cfgs, s) for s in (4, 2))
    check("Zebra declared state bytes == sidecar formulas (fp32, fp16): mismatches", bad, 0)


@torch.no_grad()
def dma_mask_definition() -> None:
    """DMA's mask equals a literal per-(row, head, query) top-k, at key lengths below, at and above
    keep_window, for prefill and decode chunks, with leading pads."""
    from families import dma
    from families.common import StepContext, attention_bias

    g = torch.Generator().manual_seed(SEED + 13)
    cfg = dma.DMAConfig(keep_window=5)
    attn = dma.DynamicMaskAttention(cfg)
    attn.dt_proj.weight.copy_(torch.randn(attn.dt_proj.weight.shape, generator=g))
    attn.A.copy_(torch.tensor([0.7, -0.6]))
    low = torch.finfo(torch.float32).min
    wrong = 0
    for past, seq, lead_pads in ((0, 3, 0), (0, 5, 0), (0, 12, 3), (9, 1, 0), (9, 4, 2)):
        total = past + seq
        key_mask = torch.ones(1, total, dtype=torch.int64)
        key_mask[:, :lead_pads] = 0
        ctx = StepContext(positions=torch.zeros(1, seq, dtype=torch.int64), key_mask=key_mask,
                          token_mask=key_mask[:, past:], bias=attention_bias(key_mask, torch.zeros(1, seq)))
        v_all = torch.randn(1, cfg.num_key_value_heads, total, cfg.head_dim, generator=g)
        got = attn.dynamic_mask(ctx, v_all)
        gate = attn.gate(v_all)
        for h in range(cfg.num_key_value_heads):
            for q in range(seq):
                visible = [t for t in range(lead_pads, past + q + 1)]
                kept = sorted(visible, key=lambda t: -float(gate[0, h, t]))[:cfg.keep_window]
                want = torch.full((total,), low)
                want[kept] = gate[0, h, kept]
                wrong += not torch.equal(got[0, h, q], want)
    check("DMA mask == literal top-k by gate (keep_window 5, key lengths 3..13): wrong rows", wrong, 0)


@torch.no_grad()
def dma_topk_export() -> None:
    """Every exported TopK takes K from a Shape (it follows the key length, min(keep_window, T));
    the fixture's reference cases keep and drop keys with a clear margin, so no near-tie can be
    broken differently by onnxruntime."""
    import json
    import tempfile

    import onnx

    from families import dma
    from families.export import export_onnx

    cfg = dma.DMAConfig()
    model = dma.build(cfg)
    init_weights(model, torch.Generator().manual_seed(SEED))
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(model, Path(tmp) / "model.onnx")
        graph = onnx.load(str(Path(tmp) / "model.onnx")).graph
    producer = {o: n for n in graph.node for o in n.output}
    constant = {i.name for i in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    topks = [n for n in graph.node if n.op_type == "TopK"]
    bad = len(topks) != cfg.num_hidden_layers
    for node in topks:
        seen, todo = set(), [node.input[1]]
        while todo:
            name = todo.pop()
            if name in seen or name not in producer:
                continue
            seen.add(name)
            todo.extend(producer[name].input)
        bad += node.input[1] in constant or not any(producer[n].op_type == "Shape" for n in seen)
    check(f"DMA graph: {len(topks)} TopK nodes, K computed from a Shape: bad", bad, 0)

    cases = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "dma" / "reference" / "cases.json"
    if not cases.exists():
        print("skip DMA top-k margins: no tests/fixtures/dma")
        return
    spec = json.loads(cases.read_text())
    gaps = []
    original = dma.DynamicMaskAttention.dynamic_mask
    w = cfg.keep_window

    def recording(self, ctx, v_all):
        gate = self.gate(v_all)
        visible = (ctx.bias == 0).expand(-1, gate.shape[1], -1, -1)
        for b, h, q in torch.nonzero(visible.sum(-1) > w).tolist():
            vals = gate[b, h][visible[b, h, q]].sort(descending=True).values
            gaps.append(float((vals[w - 1] - vals[w]) / vals[w - 1]))
        return original(self, ctx, v_all)

    dma.DynamicMaskAttention.dynamic_mask = recording
    try:
        ids = torch.tensor(spec["prefill"]["input_ids"])
        model(ids, torch.ones_like(ids), positions_for(torch.ones_like(ids)), model.empty_states(1))
        ids = torch.tensor([spec["decode"]["prompt_ids"][0] + spec["decode"]["step_ids"]])
        model(ids, torch.ones_like(ids), positions_for(torch.ones_like(ids)), model.empty_states(1))
        ids, mask = torch.tensor(spec["batch"]["input_ids"]), torch.tensor(spec["batch"]["attention_mask"])
        model(ids, mask, positions_for(mask), model.empty_states(3))
    finally:
        dma.DynamicMaskAttention.dynamic_mask = original
    check_at_least(f"DMA fixture cases: smallest relative gate gap at the top-{w} boundary "
                   f"({len(gaps)} selections past the window)", min(gaps) if gaps else 0.0, 1e-4)


def dma_mamba2_zebra() -> None:
    mamba2_ssd_vs_recurrence()
    mamba2_left_padding()
    zebra_cache_formula()
    dma_mask_definition()
    dma_topk_export()


def main() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    absorbed_vs_expanded()
    grouped_vs_per_head()
    conversions()
    fixture_settings()
    dma_mamba2_zebra()
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
