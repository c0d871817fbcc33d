/**
 * Where the time of a decode step and of the scoring mix goes, for finding what to speed up:
 *
 *     deno run -A scripts/gpu/step_profile.ts --model DIR [--device cuda] [--contexts 4096,16384]
 *       [--steps 48] [--mc 64]
 *
 * For each context it prefills one row, then times decode steps (median, mean, min, max ms) as
 * `deno task bench` runs them (`step`: Stream.step and the logits head's argmax), the forward call
 * alone with its state growing (`forward`), the same call fed the same past each time (`fixed`: no
 * state growth), and the logits head alone (`head`). Then it scores bench's multiple-choice mix
 * (`--mc` contexts, 0 to skip) and splits its wall time into forward calls by kind, state row copies
 * (`select`) and logits reads. One JSON line per measurement on stdout. Set `KVBENCH_ORT_PROFILE=DIR`
 * as well for ONNX Runtime's per-node profile.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LanguageModel } from "../../evals/lm.ts";
import { type Feeds, OnnxModel, type Tensor } from "../../evals/model/onnx_model.ts";
import { Stream } from "../../evals/model/stream.ts";
import { Rng } from "../../core/random.ts";
import { mcMix } from "../_mc_mix.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    device: { type: "string", default: "cuda" },
    contexts: { type: "string", default: "4096,16384,32768" },
    steps: { type: "string", default: "48" },
    mc: { type: "string", default: "64" },
  },
});
if (!values.model) {
  console.error(
    "usage: step_profile.ts --model DIR [--device cuda] [--contexts 4096] [--steps 48] [--mc 64]",
  );
  Deno.exit(2);
}
const model = await OnnxModel.load(values.model, { device: values.device as "cpu" | "cuda" });
if (model.staticCache) {
  // Its calls feed the mask and positions of a growing cache; bench.ts times static-cache graphs.
  console.error(
    `step_profile: ${values.model} has a static cache, which this profile does not feed: use bench.ts`,
  );
  Deno.exit(2);
}
const steps = Number(values.steps);

/** Summary of step times in ms, the first (warm-up) one left out. */
function stats(ms: number[]) {
  const kept = ms.slice(1);
  const sorted = [...kept].sort((a, b) => a - b);
  const round = (x: number) => +x.toFixed(3);
  return {
    median: round(sorted[Math.floor(sorted.length / 2)]),
    mean: round(kept.reduce((a, b) => a + b, 0) / kept.length),
    min: round(sorted[0]),
    max: round(sorted[sorted.length - 1]),
  };
}

async function timed(body: () => Promise<void>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await body();
    ms.push(performance.now() - t0);
  }
  return ms;
}

function oneToken(token: number, past: number, states: ReadonlyMap<string, Tensor>): Feeds {
  return {
    inputIds: BigInt64Array.of(BigInt(token)),
    attentionMask: new BigInt64Array(past + 1).fill(1n),
    positionIds: BigInt64Array.of(BigInt(past)),
    rows: 1,
    len: 1,
    pastLen: past,
    states,
  };
}

const dispose = (tensors: Iterable<Tensor>) => {
  for (const t of tensors) t.dispose();
};

const warm = await Stream.start(model, 1).prefill([[1, 2, 3, 4, 5, 6, 7, 8]], 1024);
await warm.logits.lastArgmax();
warm.logits.dispose();
warm.stream.dispose();

for (const context of values.contexts!.split(",").filter(Boolean).map(Number)) {
  const rng = new Rng(context);
  const prompt = Array.from({ length: context }, () => rng.int(3, model.vocabSize));
  const prefilled = await Stream.start(model, 1).prefill([prompt], 1024);
  const [first] = await prefilled.logits.lastArgmax();
  const base = prefilled.stream;

  let stream = base;
  let token = first;
  const step = stats(
    await timed(async () => {
      const next = await stream.step([[token]], "left");
      if (stream !== base) stream.dispose();
      stream = next.stream;
      [token] = await next.logits.lastArgmax();
      next.logits.dispose();
    }),
  );
  if (stream !== base) stream.dispose();

  let states: ReadonlyMap<string, Tensor> = base.states;
  let past = context;
  const forward = stats(
    await timed(async () => {
      const out = await model.forward(oneToken(first, past++, states));
      out.logits.dispose();
      if (states !== base.states) dispose(states.values());
      states = out.states;
    }),
  );
  if (states !== base.states) dispose(states.values());

  const fixed = stats(
    await timed(async () => {
      const out = await model.forward(oneToken(first, context, base.states));
      out.logits.dispose();
      dispose(out.states.values());
    }),
  );

  const last = await model.forward({ ...oneToken(first, context, base.states), fetchStates: false });
  const head = stats(
    await timed(async () => {
      await model.pick(last.logits, [{ index: 0, target: 0 }]);
    }),
  );
  last.logits.dispose();
  prefilled.logits.dispose();
  base.dispose();
  console.log(JSON.stringify({ context, step, forward, fixed, head }));
}

if (Number(values.mc) > 0) {
  // Wall time of each kind of work the scorer asks of the model, by wrapping the model's methods.
  const spent: Record<string, { ms: number; calls: number }> = {};
  const add = (kind: string, ms: number) => {
    spent[kind] ??= { ms: 0, calls: 0 };
    spent[kind].ms += ms;
    spent[kind].calls++;
  };
  const forwardOf = model.forward.bind(model);
  model.forward = async (feeds: Feeds) => {
    const t0 = performance.now();
    const out = await forwardOf(feeds);
    add(`forward ${feeds.pastLen > 0 ? "continuation" : "context"}`, performance.now() - t0);
    return out;
  };
  const gatherOf = model.gatherRows.bind(model);
  model.gatherRows = (tensors, indices) => {
    const t0 = performance.now();
    const out = gatherOf(tensors, indices);
    add("select", performance.now() - t0);
    return out;
  };
  const pickOf = model.pick.bind(model);
  model.pick = async (logits, picks) => {
    const t0 = performance.now();
    const out = await pickOf(logits, picks);
    add("logits read", performance.now() - t0);
    return out;
  };
  const { pairs, contextTokens } = mcMix(Number(values.mc), model.vocabSize);
  const lm = new LanguageModel(model, null, { batchSize: 8, maxLength: 4096 });
  await lm.loglikelihoodTokens(pairs.slice(0, 8));
  for (const key of Object.keys(spent)) delete spent[key];
  const t0 = performance.now();
  await lm.loglikelihoodTokens(pairs);
  const wall = performance.now() - t0;
  const tokens = contextTokens + pairs.reduce((n, p) => n + p.continuation.length, 0);
  const parts = Object.fromEntries(
    Object.entries(spent).map(([k, v]) => [k, { ms: +v.ms.toFixed(1), calls: v.calls }]),
  );
  console.log(
    JSON.stringify({
      mc: Number(values.mc),
      wallMs: +wall.toFixed(1),
      tokensPerSecond: +(tokens / wall * 1000).toFixed(1),
      parts,
    }),
  );
}
await model.release();
