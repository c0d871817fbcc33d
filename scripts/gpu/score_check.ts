/**
 * Scores `deno task bench`'s multiple-choice mix every way the engine can, in one process: whole
 * rows (no prefix reuse), prefix reuse with continuations a position at a time through the static
 * graph, and prefix reuse with continuations in one call of the export's scoring graph (where the
 * sidecar names one). All must give the whole rows' log-probs and greedy flags (within fp16's
 * rounding of different call shapes); their times, alternated over rounds so host noise shows as
 * a spread, say which way should be the default.
 *
 *   deno run -A scripts/gpu/score_check.ts DIR [--device cuda|cpu] [--mc 64] [--rounds 3] [--batch 8]
 *
 * Prints tokens/s per round (counted as bench counts: each context once, plus every continuation
 * token), each model method's calls and milliseconds in the last round of each way, on CUDA the
 * device memory that loading the model, opening its scoring graph (whose weights are the static
 * graph's) and a second static session took, and for each
 * way the largest log-prob difference a token from whole rows and how many greedy flags differ (a
 * flag flips only where two logits are within rounding, so it is reported, not failed); exits 1
 * when a log-prob differs by more than 0.05 a token.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { LoglikelihoodResponse, TokenPair } from "../../core/requests.ts";
import { LanguageModel } from "../../evals/lm.ts";
import { loadBundle } from "../../evals/model/bundle.ts";
import { OnnxModel } from "../../evals/model/onnx_model.ts";
import { mcMix } from "../_mc_mix.ts";

/** Largest log-prob difference a continuation token that two ways may show (fp16 call shapes differ). */
const TOLERANCE = 0.05;

const usage = "score_check: usage: deno run -A scripts/gpu/score_check.ts DIR [--device cuda|cpu] [--mc N] " +
  "[--rounds N] [--batch N]";
let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      device: { type: "string", default: "cuda" },
      mc: { type: "string", default: "64" },
      rounds: { type: "string", default: "3" },
      batch: { type: "string", default: "8" },
    },
  });
} catch {
  parsed = null;
}
const numbers = parsed ? [parsed.values.mc, parsed.values.rounds, parsed.values.batch].map(Number) : [];
if (
  !parsed || parsed.positionals.length !== 1 || !["cuda", "cpu"].includes(parsed.values.device) ||
  numbers.some((n) => !Number.isInteger(n) || n < 1)
) {
  console.error(usage);
  Deno.exit(2);
}
const [mc, rounds, batchSize] = numbers;
const [dir] = parsed.positionals;
const device = parsed.values.device as "cuda" | "cpu";

/** GPU 0's memory in use, in MiB, as nvidia-smi reads it (null on CPU or without it). */
function usedMiB(): number | null {
  if (device !== "cuda") return null;
  try {
    const out = new Deno.Command("nvidia-smi", {
      args: ["--query-gpu=memory.used", "--format=csv,noheader,nounits", "--id=0"],
    }).outputSync();
    return Number(new TextDecoder().decode(out.stdout).trim());
  } catch {
    return null;
  }
}
const memory: string[] = [];
const note = (what: string, before: number | null) => {
  const now = usedMiB();
  if (now !== null && before !== null) memory.push(`${what} +${now - before} MiB`);
  return now;
};

let mark = usedMiB();
const bundle = await loadBundle(dir, device);
mark = note("static graph loaded", mark);
const model = bundle.model;
const maxLength = Math.min(4096, bundle.maxLength);
const { pairs, contextTokens } = mcMix(mc, model.vocabSize);
const tokens = contextTokens + pairs.reduce((n, p) => n + p.continuation.length, 0);
const lm = (on: OnnxModel, prefixReuse: boolean) =>
  new LanguageModel(on, bundle.tokenizer, { batchSize, maxLength, prefixReuse });
if (!lm(model, true).options.prefixReuse) {
  console.error(`score_check: ${dir} cannot run chunks after a past, so it has no prefix reuse to check`);
  Deno.exit(2);
}
// Warm-up, which opens the scoring graph (its weights are the static graph's: see shared_weights.ts).
await lm(model, true).loglikelihoodTokens(pairs.slice(0, 8));
mark = note("first scoring (scoring graph opened)", mark);
// The same graph without its scoring graph: continuations a position at a time.
const positionsModel = bundle.sidecar.score_graph
  ? await OnnxModel.load(bundle.dir, {
    device,
    ...(bundle.sidecar.max_length ? { maxPositions: bundle.sidecar.max_length } : {}),
  })
  : null;
if (positionsModel) note("a second static session (no scoring graph)", mark);
const ways = new Map<string, LanguageModel>([["whole rows", lm(model, false)]]);
if (positionsModel) {
  ways.set("reuse, positions", lm(positionsModel, true));
  ways.set("reuse, score graph", lm(model, true));
} else {
  ways.set("reuse", lm(model, true));
}
for (const way of ways.values()) await way.loglikelihoodTokens(pairs.slice(0, 8)); // warm-up

// Where a way's time goes: each model method's calls and milliseconds in the last round.
const spent = new Map<string, { calls: number; ms: number }>();
for (const on of [model, positionsModel]) {
  if (!on) continue;
  for (const method of ["forward", "pick", "gatherRows", "widenCache"] as const) {
    const original = (on[method] as (...args: unknown[]) => unknown).bind(on);
    (on as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
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
}
const profile = () =>
  [...spent].map(([name, { calls, ms }]) => `${name} ${calls}× ${ms.toFixed(1)} ms`).join(", ");

const rates = new Map<string, number[]>([...ways.keys()].map((name) => [name, []]));
const results = new Map<string, LoglikelihoodResponse[]>();
const profiles = new Map<string, string>();
for (let round = 0; round < rounds; round++) {
  for (const [name, way] of ways) {
    spent.clear();
    const started = performance.now();
    results.set(name, await way.loglikelihoodTokens(pairs));
    rates.get(name)!.push(tokens / ((performance.now() - started) / 1000));
    profiles.set(name, `${(performance.now() - started).toFixed(1)} ms: ${profile()}`);
  }
}
const scoreGraphRan = model.scoreGraphOpen;
await model.release();
await positionsModel?.release();

/** The largest log-prob difference a token from `want`, and how many greedy flags differ. */
function agreement(pairs: readonly TokenPair[], want: LoglikelihoodResponse[], got: LoglikelihoodResponse[]) {
  let worst = 0;
  let flags = 0;
  pairs.forEach((pair, i) => {
    worst = Math.max(worst, Math.abs(want[i].logprob - got[i].logprob) / pair.continuation.length);
    if (want[i].isGreedy !== got[i].isGreedy) flags++;
  });
  return {
    ok: worst <= TOLERANCE,
    text: `max |Δ log-prob| a token ${worst.toExponential(2)}, greedy flags differing ${flags}`,
  };
}

const spread = (r: number[]) => r.map((v) => v.toFixed(0)).join(" / ");
const whole = rates.get("whole rows")!;
console.log(`${dir} (${device}): ${pairs.length} pairs, ${tokens} tokens scored, batch ${batchSize}`);
let ok = true;
for (const [name, rate] of rates) {
  const ratio = rate.map((r, i) => (r / whole[i]).toFixed(2)).join(" / ");
  console.log(`  ${name.padEnd(20)} tok/s ${spread(rate)}  (${ratio} × whole rows)`);
}
for (const [name, text] of profiles) console.log(`  last "${name}" round ${text}`);
if (memory.length > 0) console.log(`  device memory: ${memory.join("; ")}`);
for (const [name, got] of results) {
  if (name === "whole rows") continue;
  const { ok: close, text } = agreement(pairs, results.get("whole rows")!, got);
  ok &&= close;
  console.log(`${close ? "ok  " : "FAIL"} ${name} against whole rows: ${text}`);
}
if (positionsModel && !scoreGraphRan) {
  console.log("FAIL the scoring graph never ran");
  ok = false;
}
Deno.exit(ok ? 0 : 1);
