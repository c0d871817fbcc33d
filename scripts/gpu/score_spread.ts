/**
 * How far scoring moves with the path taken: the bench's multiple-choice mix scored on one device
 * stepped at batch 1, stepped at batch 8 and through the score graph, with the largest
 * differences in summed log-probability and the greedy flags that changed. On CPU all three agree
 * to about 1e-6; on a GPU the stepped pair shows what batch shape alone moves.
 *
 *   deno run -A scripts/gpu/score_spread.ts --model DIR [--device cuda] [--mc 32]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { LanguageModel } from "../../evals/lm.ts";
import { OnnxModel } from "../../evals/model/onnx_model.ts";
import type { Device } from "../../evals/model/onnx_model.ts";
import { ScoreGraph } from "../../evals/model/score_graph.ts";
import type { LoglikelihoodResponse } from "../../evals/requests.ts";
import { mcMix } from "../_mc_mix.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string" },
    device: { type: "string", default: "cpu" },
    mc: { type: "string", default: "32" },
  },
  strict: true,
});
if (!values.model) throw new Error("usage: score_spread.ts --model DIR [--device cuda] [--mc 32]");
const model = await OnnxModel.load(values.model, { device: values.device as Device, tf32: false });
const graph = await ScoreGraph.load(model);
const { pairs } = mcMix(Number(values.mc), model.vocabSize);
const score = (options: { batchSize: number; scoreGraph?: ScoreGraph }) =>
  new LanguageModel(model, null, { maxLength: 4096, ...options }).loglikelihoodTokens(pairs);
const runs: [string, LoglikelihoodResponse[]][] = [
  ["stepped, batch 1", await score({ batchSize: 1 })],
  ["stepped, batch 8", await score({ batchSize: 8 })],
  ["score graph, batch 8", await score({ batchSize: 8, scoreGraph: graph })],
];
for (const [name, got] of runs.slice(1)) {
  const base = runs[0][1];
  const gap = got.reduce((m, r, i) => Math.max(m, Math.abs(r.logprob - base[i].logprob)), 0);
  const flips = got.filter((r, i) => r.isGreedy !== base[i].isGreedy).length;
  console.log(
    `${name} vs ${runs[0][0]}: max |Δ logprob| ${
      gap.toExponential(2)
    }, greedy flags changed ${flips}/${got.length}`,
  );
}
await graph.release();
await model.release();
