/**
 * An experiment for #12's scoring: continuations scored from a static cache in one call per batch
 * instead of one call per position. GroupQueryAttention takes a chunk after a past for one row only,
 * so the static graph scores continuations a position at a time; the fused graph of the same model
 * (the opset-23 Attention op, the same cache layout) takes such a chunk for many rows. Here the
 * contexts are prefilled into the static graph's buffers, as `LanguageModel` does, and every
 * continuation's tail then runs in one call of the fused graph that reads those buffers as its past,
 * masked past each row's length. Timed against `LanguageModel`'s prefix reuse on the static graph,
 * alternating, with the log-probs held together. The fused graph is a second session holding a
 * second copy of the weights, the cost this path would add.
 *
 *   deno run -A scripts/gpu/score_hybrid.ts STATIC_DIR FUSED_DIR [--device cuda|cpu] [--mc 64] [--rounds 3] [--batch 8]
 *
 * STATIC_DIR and FUSED_DIR are `export_paper_shapes.py --graph static` and `--graph fused` of one
 * model (or tests/fixtures/llama-static and llama-fused, the same weights). Prints tokens/s each
 * way per round (counted as bench counts), the largest log-prob difference a token and how many
 * greedy flags differ; exits 1 past 0.05 a token.
 *
 * @module
 */

import type { LoglikelihoodResponse, TokenPair } from "../../core/requests.ts";
import { LanguageModel } from "../../evals/lm.ts";
import { loadBundle } from "../../evals/model/bundle.ts";
import type { OnnxModel } from "../../evals/model/onnx_model.ts";
import { Stream } from "../../evals/model/stream.ts";
import { mcMix } from "../_mc_mix.ts";
import { agreement, scoringFlags } from "./_scores.ts";

const { dirs: [staticDir, fusedDir], device, mc, rounds, batch: batchSize } = scoringFlags("score_hybrid", [
  "STATIC_DIR",
  "FUSED_DIR",
]);
const fixed = await loadBundle(staticDir, device);
const fused = await loadBundle(fusedDir, device);
const names = (m: OnnxModel) => m.states.map((s) => s.input).join(",");
if (!fixed.model.staticCache || fused.model.staticCache || names(fixed.model) !== names(fused.model)) {
  console.error("score_hybrid: pass a static-cache export, then a fused one with the same cache inputs");
  Deno.exit(2);
}
const maxLength = Math.min(4096, fixed.maxLength, fused.maxLength);
const { pairs: mix, contextTokens } = mcMix(mc, fixed.model.vocabSize);
const tokens = contextTokens + mix.reduce((n, p) => n + p.continuation.length, 0);
// Context tokens dropped from the left past maxLength + 1, as LanguageModel does.
const pairs: TokenPair[] = mix.map(({ context, continuation }) => ({
  context: context.slice(Math.max(context.length + continuation.length - maxLength - 1, 0)),
  continuation,
}));

/** The mix scored with the contexts in the static graph and every batch's tails in one fused call. */
async function hybrid(): Promise<LoglikelihoodResponse[]> {
  const groups = new Map<string, number[]>();
  pairs.forEach((p, i) => {
    const key = p.context.join(",");
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const ordered = [...groups.values()].sort((a, b) =>
    pairs[b[0]].context.length - pairs[a[0]].context.length
  );
  const sums = pairs.map(() => ({ logprob: 0, isGreedy: true }));
  const add = (i: number, logprob: number, argmax: number, target: number) => {
    sums[i].logprob += logprob;
    if (argmax !== target) sums[i].isGreedy = false;
  };
  for (let b = 0; b < ordered.length; b += batchSize) {
    const batch = ordered.slice(b, b + batchSize);
    const longestTail = Math.max(...batch.flat().map((i) => pairs[i].continuation.length)) - 1;
    const prefill = await Stream.start(fixed.model, batch.length).prefill(
      batch.map((g) => pairs[g[0]].context),
      0,
      undefined,
      longestTail,
    );
    const firsts = batch.flatMap((g, row) =>
      g.map((i) => ({ i, pick: { row, j: prefill.logits.lastIndex(row), target: pairs[i].continuation[0] } }))
    );
    const picked = await prefill.logits.pick(firsts.map((f) => f.pick));
    firsts.forEach((f, k) => add(f.i, picked.logprobs[k], picked.argmax[k], f.pick.target));
    prefill.logits.dispose();
    const rows = batch.flatMap((g, group) =>
      g.filter((i) => pairs[i].continuation.length > 1).map((i) => ({ group, i }))
    );
    if (rows.length > 0) await tails(prefill.stream, rows, add);
    prefill.stream.dispose();
  }
  return sums.map((s) => ({ kind: "loglikelihood", ...s }));
}

/** Every continuation's tail after its context's state, in one call of the fused graph. */
async function tails(
  contexts: Stream,
  rows: { group: number; i: number }[],
  add: (i: number, logprob: number, argmax: number, target: number) => void,
): Promise<void> {
  const copies = contexts.select(rows.map((r) => r.group));
  const capacity = copies.states.values().next().value!.dims[fixed.model.states[0].seqAxis!];
  const tailOf = (i: number) => pairs[i].continuation.slice(0, -1);
  // Keys (past and tail) padded to the fused graph's multiple: its memory-efficient kernel takes a
  // mask only then (see OnnxModel.keyLengthMultiple).
  const multiple = fused.model.keyLengthMultiple;
  const longest = Math.max(...rows.map((r) => tailOf(r.i).length));
  const T = Math.ceil((capacity + longest) / multiple) * multiple - capacity;
  const n = rows.length;
  const inputIds = new BigInt64Array(n * T);
  const positionIds = new BigInt64Array(n * T);
  const attentionMask = new BigInt64Array(n * (capacity + T));
  rows.forEach((r, row) => {
    const length = copies.realCounts[row];
    const tail = tailOf(r.i);
    for (let s = 0; s < length; s++) attentionMask[row * (capacity + T) + s] = 1n;
    for (let j = 0; j < T; j++) {
      const real = j < tail.length;
      inputIds[row * T + j] = BigInt(real ? tail[j] : 0);
      // Padding sits at the row's first new position: within the RoPE tables wherever the row is.
      positionIds[row * T + j] = BigInt(length + (real ? j : 0));
      if (real) attentionMask[row * (capacity + T) + capacity + j] = 1n;
    }
  });
  const out = await fused.model.forward({
    inputIds,
    attentionMask,
    positionIds,
    rows: n,
    len: T,
    pastLen: capacity,
    states: copies.states,
    keep: T,
    call: "score",
    fetchStates: false,
  });
  const picks = rows.flatMap((r, row) =>
    tailOf(r.i).map((_, j) => ({
      i: r.i,
      index: row * out.logitsLen + j,
      target: pairs[r.i].continuation[j + 1],
    }))
  );
  const picked = await fused.model.pick(out.logits, picks);
  picks.forEach((p, k) => add(p.i, picked.logprobs[k], picked.argmax[k], p.target));
  out.logits.dispose();
  for (const state of out.states.values()) state.dispose();
  copies.dispose();
}

const reference = new LanguageModel(fixed.model, null, { batchSize, maxLength, prefixReuse: true });
await reference.loglikelihoodTokens(pairs.slice(0, 8)); // warm-up
await hybrid();
const rates = { positions: [] as number[], hybrid: [] as number[] };
let want: LoglikelihoodResponse[] = [];
let got: LoglikelihoodResponse[] = [];
for (let round = 0; round < rounds; round++) {
  let started = performance.now();
  want = await reference.loglikelihoodTokens(pairs);
  rates.positions.push(tokens / ((performance.now() - started) / 1000));
  started = performance.now();
  got = await hybrid();
  rates.hybrid.push(tokens / ((performance.now() - started) / 1000));
}
await fixed.model.release();
await fused.model.release();

const { ok, line } = agreement(pairs, want, got);
const spread = (r: number[]) => r.map((v) => v.toFixed(0)).join(" / ");
console.log(`${staticDir} + ${fusedDir} (${device}): ${pairs.length} pairs, ${tokens} tokens scored`);
console.log(`  static, position by position  tok/s ${spread(rates.positions)}`);
console.log(`  static + one fused call       tok/s ${spread(rates.hybrid)}`);
console.log(line);
Deno.exit(ok ? 0 : 1);
