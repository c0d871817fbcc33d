#!/usr/bin/env python3
"""PyTorch anchor for `deno task bench`: the same workload through Hugging Face transformers.

    python3 scripts/bench_torch.py [--device cuda] [--dtype bfloat16] [--attn eager|sdpa]
        [--contexts 4096,16384,32768] [--decode 32] [--batches 1,16] [--prefill-chunk 1024] [--mc 64]
        [--seed 0] [--json FILE] [--smoke | --impl toy]

The model is a randomly initialised `LlamaForCausalLM` at Llama-3.2-1B shape (vocab 128256,
hidden 2048, 16 layers, 32 heads, 8 KV heads, head dim 64, tied embeddings) in bf16 with eager
attention, which is the path lm-eval's `hf` backend takes. The script measures what
scripts/bench.ts measures:

- prefill tokens/s at each context C: C seeded random ids go through a DynamicCache in
  --prefill-chunk chunks, and only the last position's logits are kept;
- decode tokens/s: --decode greedy single-token steps from that cache, at each batch size of
  --batches (the prefilled row copied, as bench.ts does);
- state bytes: the cache's key/value tensors, measured at C (and at C + decode after decoding);
- loglikelihood scoring tokens/s on the multiple-choice-like mix, scored the way lm-eval's hf
  backend scores it: batches of 8 sorted longest first, each one right-padded and run through one
  forward pass, with no prefix reuse except its logits cache (requests that share context and
  continuation but its last token run once): `score-mc-first` over a mix of its own (seed 8),
  then `score-mc` over the timed mix (seed 7) with the allocator as the first pass left it;
- peak GPU memory (torch.cuda.max_memory_allocated, reset before each measurement);
- with --shapes FILE (scripts/gpu/ruler_shapes.ts: an eval's generation samples as prompt and
  generated token counts), the model's seconds to generate them as lm-eval's hf backend does at
  its default batch size of 1: each prompt in one forward pass, then greedy steps, one per token
  after the first (seeded random ids of those lengths: the cost depends only on the shapes).

The token ids come from the same mulberry32 streams as bench.ts (seed C for each context, 8 and 7 for
the MC mixes), so both benchmarks see exactly the same tokens. --seed seeds only the weights.

--smoke uses a tiny Llama (hidden 64, 2 layers, vocab 512) on the same HF path, as a quick check on
the GPU machine. --impl toy uses a pure-torch stand-in and does not import transformers, so the
control flow, timing and output can be tried on a CPU-only machine.
"""

import argparse
import copy
import datetime
import gc
import json
import statistics
import sys
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

BATCH = 8  # bench.ts scores with batch size 8
OOM = getattr(torch.cuda, "OutOfMemoryError", MemoryError)
DTYPES = {"bfloat16": (torch.bfloat16, "bf16"), "float16": (torch.float16, "fp16"), "float32": (torch.float32, "fp32")}
LLAMA32_1B = dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                  num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
                  rms_norm_eps=1e-5, tie_word_embeddings=True)
SMOKE = dict(LLAMA32_1B, vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=16)
ROPE_THETA = 500000.0  # Llama-3.2's rope scaling is left out: it changes no cost


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # progress goes to stderr, the table to stdout


class Rng:
    """A port of core/random.ts's mulberry32 `Rng`, so that the ids match bench.ts's exactly."""

    def __init__(self, seed: int):
        self.state = seed & 0xFFFFFFFF

    def uniform(self) -> float:
        m = 0xFFFFFFFF
        self.state = (self.state + 0x6D2B79F5) & m
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & m
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & m)) & m
        return ((t ^ (t >> 14)) & m) / 4294967296

    def int(self, lo: int, hi: int) -> int:
        return lo + int(self.uniform() * (hi - lo))


@dataclass
class Target:
    """What the benchmark needs from a model: a callable LM, its vocabulary and a fresh cache."""
    name: str
    model: torch.nn.Module
    vocab: int
    new_cache: Callable[[], object]
    config: Dict
    versions: Dict


class ToyCache:
    """The part of DynamicCache's interface that the benchmark uses: layers[i].keys/.values."""

    def __init__(self):
        self.layers: List[SimpleNamespace] = []

    def get_seq_length(self) -> int:
        return self.layers[0].keys.shape[-2] if self.layers else 0

    def batch_repeat_interleave(self, repeats: int) -> None:
        for layer in self.layers:
            layer.keys = layer.keys.repeat_interleave(repeats, 0)
            layer.values = layer.values.repeat_interleave(repeats, 0)


class ToyLM(torch.nn.Module):
    """A stand-in with the HF call signature. It caches its embeddings so that the state grows."""

    def __init__(self, vocab: int, hidden: int):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, hidden)
        self.head = torch.nn.Linear(hidden, vocab, bias=False)

    def forward(self, input_ids, past_key_values=None, use_cache=False, logits_to_keep=0):
        h = self.embed(input_ids)
        if use_cache and past_key_values is not None:
            kv = h[:, None]
            if past_key_values.layers:
                layer = past_key_values.layers[0]
                layer.keys, layer.values = torch.cat([layer.keys, kv], -2), torch.cat([layer.values, kv], -2)
            else:
                past_key_values.layers.append(SimpleNamespace(keys=kv, values=kv.clone()))
        logits = self.head(h[:, -logits_to_keep:] if logits_to_keep else h)
        return SimpleNamespace(logits=logits, past_key_values=past_key_values)


def build_toy(args, device, dtype) -> Target:
    torch.manual_seed(args.seed)
    model = ToyLM(512, 64).to(device=device, dtype=dtype).eval()
    return Target(f"toy-{DTYPES[args.dtype][1]}", model, 512, ToyCache,
                  {"impl": "toy", "vocab_size": 512, "hidden_size": 64}, {"transformers": None})


def build_hf(args, device, dtype) -> Target:
    import transformers
    from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

    shape = SMOKE if args.smoke else LLAMA32_1B
    # In 5.x, rope_theta is held in rope_parameters, and the attn_implementation kwarg becomes
    # config._attn_implementation.
    config = LlamaConfig(**shape, rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
                         attn_implementation=args.attn)
    torch.manual_seed(args.seed)
    # The model is built directly on the device in the target dtype. Initialising 1.2B fp32 weights
    # on the CPU first would take longer than the benchmark itself.
    with torch.device(device):
        model = LlamaForCausalLM._from_config(config, dtype=dtype)
    model.eval()
    attn = model.config._attn_implementation
    log(f"attention implementation: {attn!r} (asked for {args.attn!r}); "
        f"rope_parameters {model.config.rope_parameters}")
    if attn != args.attn:
        sys.exit(f"bench_torch: model uses attention {attn!r}, not {args.attn!r}; the anchor would be wrong")
    tied = model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    params = sum(p.numel() for p in model.parameters())
    log(f"{params:,} parameters, {next(model.parameters()).dtype}, tied embeddings: {tied}")
    name = f"hf-llama{'-smoke' if args.smoke else '3.2-1b'}-{DTYPES[args.dtype][1]}-{attn}"
    cfg = dict(shape, impl="hf", rope_theta=ROPE_THETA, attn_implementation=attn, parameters=params, tied=tied)
    return Target(name, model, shape["vocab_size"], lambda: DynamicCache(config=model.config), cfg,
                  {"transformers": transformers.__version__})


def cache_bytes(cache) -> int:
    """The bytes held in a cache's key/value tensors: 5.x `layers`, 4.x key_cache/value_cache, or tuples."""
    if hasattr(cache, "layers"):
        tensors = [t for layer in cache.layers for t in (layer.keys, layer.values)]
    elif hasattr(cache, "key_cache"):
        tensors = list(cache.key_cache) + list(cache.value_cache)
    else:
        tensors = [t for layer in cache for t in layer]
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def prefill(t: Target, ids: torch.Tensor, chunk: int):
    cache = t.new_cache()
    for start in range(0, ids.shape[1], chunk):
        out = t.model(input_ids=ids[:, start:start + chunk], past_key_values=cache, use_cache=True,
                      logits_to_keep=1)
        cache = out.past_key_values
    return out.logits[:, -1], cache


def decode(t: Target, logits: torch.Tensor, cache, steps: int, device, times: Optional[List[float]] = None):
    """``steps`` greedy steps; with ``times``, each step's seconds are appended to it, from one step's
    ids reaching the host to the next's (as bench.ts's step ends with its argmax)."""
    last = None
    for _ in range(steps):
        # The ids pass through the host, as they do in bench.ts's argmax and in the per-step
        # stopping check of HF generate(). Keeping them on the GPU would hide that sync.
        tokens = logits.argmax(-1).tolist()
        now = time.perf_counter()
        if times is not None and last is not None:
            times.append(now - last)
        last = now
        out = t.model(input_ids=torch.tensor([[x] for x in tokens], device=device), past_key_values=cache,
                      use_cache=True, logits_to_keep=1)
        logits, cache = out.logits[:, -1], out.past_key_values
    if times is not None and last is not None:
        logits.argmax(-1).tolist()
        times.append(time.perf_counter() - last)
    return logits, cache


MC_SEED = 7  # scripts/_mc_mix.ts's: the timed mix; its first pass scores the next seed's


def mc_pairs(n: int, vocab: int, seed: int = MC_SEED) -> Tuple[List[Tuple[List[int], List[int]]], int]:
    """bench.ts's MC mix: n contexts of 128–384 ids, each with 4 continuations of 1–8 ids."""
    rng, pairs, context_tokens = Rng(seed), [], 0
    for _ in range(n):
        context = [rng.int(3, vocab) for _ in range(rng.int(128, 385))]
        context_tokens += len(context)
        for _ in range(4):
            pairs.append((context, [rng.int(3, vocab) for _ in range(rng.int(1, 9))]))
    return pairs, context_tokens


def score_mc(t: Target, pairs, device) -> Tuple[list, int, int]:
    """Scores the pairs the way lm-eval's HFLM._loglikelihood_tokens does, one sequence per group of
    requests that share context + continuation[:-1] (its logits cache, on by default: one-token
    continuations of one context run once), the groups sorted longest first."""
    groups: Dict[tuple, List[int]] = {}
    for i, (context, continuation) in enumerate(pairs):
        groups.setdefault(tuple(context + continuation[:-1]), []).append(i)

    def key(i: int) -> tuple:
        return tuple(pairs[i][0] + pairs[i][1][:-1])

    order = sorted((g[0] for g in groups.values()),
                   key=lambda i: (-len(pairs[i][0]) - len(pairs[i][1]), tuple(pairs[i][0] + pairs[i][1])))
    results, fed, padded = [None] * len(pairs), 0, 0
    for b in range(0, len(order), BATCH):
        idx = order[b:b + BATCH]
        inps = [(pairs[i][0] + pairs[i][1])[:-1] for i in idx]  # the last id is only a target
        width = max(len(inp) for inp in inps)
        batch = torch.zeros(len(inps), width, dtype=torch.long)  # lm-eval right-pads with 0
        for j, inp in enumerate(inps):
            batch[j, :len(inp)] = torch.tensor(inp)
        # This is the same bare call as lm-eval's _model_call, so HF also builds its throwaway cache
        # (use_cache defaults to the config's True). log_softmax covers the whole padded batch as in lm-eval.
        logp = F.log_softmax(t.model(input_ids=batch.to(device)).logits, dim=-1)
        for j, i in enumerate(idx):
            for member in groups[key(i)]:
                cont = torch.tensor(pairs[member][1], device=device)
                rows = logp[j, len(inps[j]) - len(cont):len(inps[j])]
                greedy = bool((rows.argmax(-1) == cont).all())
                results[member] = (float(rows.gather(-1, cont[:, None]).sum()), greedy)
        fed += sum(len(inp) for inp in inps)
        padded += len(inps) * width
    return results, fed, padded


def run(t: Target, args, device) -> List[Dict]:
    cuda = device.type == "cuda"
    rows: List[Dict] = []

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def begin(keep_cache: bool = False) -> float:
        # The previous measurement's cache and logits are released, so one run's memory does not
        # leak into the next one's peak or cause an OOM there (unless the allocator's warmth is
        # what the next one measures).
        gc.collect()
        if cuda:
            if not keep_cache:
                torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        sync()
        return time.perf_counter()

    def record(work, context, tokens, started, state, per_token, **extra):
        sync()
        seconds = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated(device) if cuda else 0
        rows.append(dict(model=t.name, work=work, context=context, tokens=tokens, seconds=seconds,
                         tokensPerSecond=tokens / seconds, kvBytesPerToken=per_token, stateBytes=state,
                         peakGpuBytes=peak, **extra))
        log(f"{t.name} {work}{f'@{context}' if context else ''}: {tokens / seconds:.1f} tok/s "
            f"({seconds:.3f} s, state {state} B, peak {peak / 2**20:.0f} MiB)")

    def failed(work, context, tokens, error="oom"):
        rows.append(dict(model=t.name, work=work, context=context, tokens=tokens, seconds=None,
                         tokensPerSecond=None, kvBytesPerToken=None, stateBytes=None, peakGpuBytes=None,
                         error=error))
        log(f"{t.name} {work}{f'@{context}' if context else ''}: {error}")

    # Warm-up: CUDA init, allocator growth and kernel selection stay out of the numbers. It covers a
    # full chunk, a partial one, decode steps and a batched scoring forward.
    warm = torch.randint(3, t.vocab, (1, args.prefill_chunk + 8), device=device)
    logits, cache = prefill(t, warm, args.prefill_chunk)
    decode(t, logits, cache, 4, device)
    t.model(input_ids=warm[:, :64].expand(BATCH, -1))
    del logits, cache
    sync()

    kv = 0
    for context in args.contexts:
        rng = Rng(context)
        ids = torch.tensor([[rng.int(3, t.vocab) for _ in range(context)]], device=device)
        try:
            started = begin()
            logits, cache = prefill(t, ids, args.prefill_chunk)
            state = cache_bytes(cache)
            kv = state // context
            record("prefill", context, context, started, state, kv)
        except OOM:
            logits = cache = None
            failed("prefill", context, context)
            failed("decode", context, args.decode)
            continue
        # Larger batches first, each from a copy of the prefilled row: decoding grows the cache in place.
        for batch in sorted(args.batches, reverse=True):
            try:
                rows_cache = cache
                if batch > 1:
                    rows_cache = copy.deepcopy(cache)
                    rows_cache.batch_repeat_interleave(batch)
                # One untimed step first, as bench.ts takes (where it captures a CUDA graph).
                first_logits, rows_cache = decode(t, logits.expand(batch, -1), rows_cache, 1, device)
                started = begin()
                times: List[float] = []
                _, rows_cache = decode(t, first_logits, rows_cache, args.decode, device, times)
                state = cache_bytes(rows_cache)
                record("decode", context, batch * args.decode, started, state,
                       state // (batch * rows_cache.get_seq_length()), batch=batch,
                       stepMsMedian=1000 * statistics.median(times))
            except OOM:
                failed("decode", context, batch * args.decode)
            rows_cache = None
        logits = cache = None

    if args.shapes:
        with open(args.shapes) as f:
            samples = json.load(f)["samples"]
        rng = Rng(11)
        begin()
        seconds = 0.0
        for prompt, generated in samples:
            ids = torch.tensor([[rng.int(3, t.vocab) for _ in range(prompt)]], device=device)
            sync()
            started = time.perf_counter()
            out = t.model(input_ids=ids, past_key_values=t.new_cache(), use_cache=True, logits_to_keep=1)
            decode(t, out.logits[:, -1], out.past_key_values, max(generated - 1, 0), device)
            sync()
            seconds += time.perf_counter() - started  # the model's time only, not drawing the ids
            del out
        tokens = sum(p + g for p, g in samples)
        peak = torch.cuda.max_memory_allocated(device) if cuda else 0
        rows.append(dict(model=t.name, work="generate", context=None, tokens=tokens, seconds=seconds,
                         tokensPerSecond=tokens / seconds, kvBytesPerToken=kv, stateBytes=0, peakGpuBytes=peak,
                         samples=len(samples), secondsPerSample=seconds / max(len(samples), 1)))
        log(f"{t.name} generate: {len(samples)} samples, {tokens} tokens in {seconds:.3f} s "
            f"({seconds / max(len(samples), 1):.3f} s a sample)")
    if args.mc > 0:
        # As bench.ts: a first pass over a mix of its own, then the timed mix, whose shapes are new,
        # with the caching allocator kept as a long eval keeps it.
        for work, seed in (("score-mc-first", MC_SEED + 1), ("score-mc", MC_SEED)):
            pairs, context_tokens = mc_pairs(args.mc, t.vocab, seed)
            # Counted as bench.ts counts: each MC context once, plus every continuation id.
            tokens = context_tokens + sum(len(c) for _, c in pairs)
            try:
                started = begin(keep_cache=work == "score-mc")
                _, fed, padded = score_mc(t, pairs, device)
                record(work, None, tokens, started, 0, kv, forwardTokens=fed, paddedTokens=padded)
            except OOM:
                failed(work, None, tokens)
    return rows


def table(rows: List[Dict]) -> str:
    lines = ["| model | work | context | tokens/s | KV B/token | state bytes | peak GPU (MiB) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['model']} | {r['work']} | {r['context'] or ''} | {r['error']} | | | |")
        else:
            lines.append(f"| {r['model']} | {r['work']} | {r['context'] or ''} | {r['tokensPerSecond']:.1f} | "
                         f"{r['kvBytesPerToken']} | {r['stateBytes']} | {r['peakGpuBytes'] / 2**20:.0f} |")
    return "\n".join(lines)


def parse_args(argv: Optional[List[str]] = None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--contexts", default="4096,16384,32768",
                   type=lambda s: [int(c) for c in s.split(",") if c])
    p.add_argument("--decode", type=int, default=32)
    p.add_argument("--batches", default="1,16", type=lambda s: [int(x) for x in s.split(",")],
                   help="decode batch sizes: the prefilled row copied this many times")
    p.add_argument("--prefill-chunk", type=int, default=1024)
    p.add_argument("--mc", type=int, default=64)
    p.add_argument("--json", help="write the rows, versions and config to this file")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    p.add_argument("--attn", default="eager", choices=["eager", "sdpa"])
    p.add_argument("--seed", type=int, default=0, help="seeds the weights; the ids follow bench.ts's seeds")
    p.add_argument("--impl", default="hf", choices=["hf", "toy"])
    p.add_argument("--smoke", action="store_true", help="tiny Llama (hidden 64, 2 layers, vocab 512), HF path")
    p.add_argument("--shapes", help="JSON of generation samples ([prompt, generated] token counts) to time")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_torch: --device cuda but torch sees no GPU")
    dtype = DTYPES[args.dtype][0]
    with torch.inference_mode():
        target = (build_toy if args.impl == "toy" else build_hf)(args, device, dtype)
        rows = run(target, args, device)
    print(table(rows))
    if args.json:
        versions = dict(target.versions, torch=torch.__version__, cuda=torch.version.cuda,
                        gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None)
        config = dict(target.config, dtype=args.dtype, contexts=args.contexts, decode=args.decode,
                      prefillChunk=args.prefill_chunk, mc=args.mc, batch=BATCH, seed=args.seed)
        date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "date": date, "versions": versions, "config": config, "rows": rows},
                      f, indent=2)


if __name__ == "__main__":
    main()
