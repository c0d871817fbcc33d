/**
 * Scores `deno task bench`'s multiple-choice mix with prefix reuse and without, in one process:
 * the two ways must give the same log-probs and greedy flags (within fp16's rounding of different
 * call shapes), and their times, alternated over rounds so host noise shows as a spread, say which
 * should be a static cache's default (`LanguageModel`'s `prefixReuse`).
 *
 *   deno run -A scripts/gpu/score_check.ts DIR [--device cuda|cpu] [--mc 64] [--rounds 3] [--batch 8]
 *
 * Prints tokens/s per round (counted as bench counts: each context once, plus every continuation
 * token), each model method's calls and milliseconds in the last round of each way, the largest
 * log-prob difference a token and how many greedy flags differ (a flag flips only where two logits
 * are within rounding); exits 1 when a log-prob differs by more than 0.05 a token.
 *
 * @module
 */

import { loadBundle } from "../../evals/model/bundle.ts";
import type { LoglikelihoodResponse } from "../../core/requests.ts";
import { LanguageModel } from "../../evals/lm.ts";
import { mcMix } from "../_mc_mix.ts";
import { agreement, scoringFlags } from "./_scores.ts";

const { dirs: [dir], device, mc, rounds, batch: batchSize } = scoringFlags("score_check", ["DIR"]);

const bundle = await loadBundle(dir, device);
const model = bundle.model;
const { pairs, contextTokens } = mcMix(mc, model.vocabSize);
const tokens = contextTokens + pairs.reduce((n, p) => n + p.continuation.length, 0);
const lm = (prefixReuse: boolean) =>
  new LanguageModel(model, bundle.tokenizer, {
    batchSize,
    maxLength: Math.min(4096, bundle.maxLength),
    prefixReuse,
  });
const ways = { plain: lm(false), reuse: lm(true) };
if (!ways.reuse.options.prefixReuse) {
  console.error(`score_check: ${dir} cannot run chunks after a past, so it has no prefix reuse to check`);
  Deno.exit(2);
}
for (const way of Object.values(ways)) await way.loglikelihoodTokens(pairs.slice(0, 8)); // warm-up

// Where a way's time goes: each model method's calls and milliseconds in the last round.
const spent = new Map<string, { calls: number; ms: number }>();
for (const method of ["forward", "pick", "gatherRows", "widenCache"] as const) {
  const original = (model[method] as (...args: unknown[]) => unknown).bind(model);
  (model as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
    const started = performance.now();
    const entry = spent.get(method) ?? { calls: 0, ms: 0 };
    spent.set(method, entry);
    const done = () => {
      entry.calls++;
      entry.ms += performance.now() - started;
    };
    const result = original(...args);
    if (result instanceof Promise) return result.finally(done);
    done();
    return result;
  };
}
const profile = () =>
  [...spent].map(([name, { calls, ms }]) => `${name} ${calls}× ${ms.toFixed(1)} ms`).join(", ");

const rates: Record<keyof typeof ways, number[]> = { plain: [], reuse: [] };
const results: Partial<Record<keyof typeof ways, LoglikelihoodResponse[]>> = {};
const profiles: Record<string, string> = {};
for (let round = 0; round < rounds; round++) {
  for (const name of ["plain", "reuse"] as const) {
    spent.clear();
    const started = performance.now();
    results[name] = await ways[name].loglikelihoodTokens(pairs);
    rates[name].push(tokens / ((performance.now() - started) / 1000));
    profiles[name] = `${(performance.now() - started).toFixed(1)} ms: ${profile()}`;
  }
}
await model.release();

const { ok, line } = agreement(pairs, results.plain!, results.reuse!);
const spread = (r: number[]) => r.map((v) => v.toFixed(0)).join(" / ");
const ratio = rates.reuse.map((r, i) => (r / rates.plain[i]).toFixed(2)).join(" / ");
console.log(`${dir} (${device}): ${pairs.length} pairs, ${tokens} tokens scored`);
console.log(`  plain  tok/s ${spread(rates.plain)}`);
console.log(`  reuse  tok/s ${spread(rates.reuse)}  (${ratio} × plain)`);
for (const [name, text] of Object.entries(profiles)) console.log(`  last ${name} round ${text}`);
console.log(line);
Deno.exit(ok ? 0 : 1);
