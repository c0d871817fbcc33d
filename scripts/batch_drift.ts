/**
 * `deno run -A scripts/batch_drift.ts [--device cuda] [--model DIR,…]`: how far per-sample
 * log-probabilities move with the batch size. Scores a fixed set of token pairs (several contexts
 * of a few lengths, continuations of 1–4 tokens) at batch sizes 1, 3, 8 and 32, with and without
 * prefix reuse, in padded and in same-length batches, and prints the largest |Δ logprob| against
 * batch size 1 and how many greedy flags flipped. The measurement behind the README's statement
 * of what holds across batch sizes.
 *
 * @module
 */

import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LanguageModel } from "../evals/lm.ts";
import { OnnxModel } from "../evals/model/onnx_model.ts";
import { DEVICE_FLAG, deviceFlag, MODEL_FLAG } from "../evals/flags.ts";
import { Rng } from "../core/random.ts";
import { parseFlags, runMain } from "./_main.ts";

const HELP = `Usage: deno run -A scripts/batch_drift.ts [options]

Largest |Δ logprob| of each model's scores at batch sizes 3, 8 and 32 against batch size 1, with and
without prefix reuse, in padded and same-length batches.`;

function pairs(vocab: number) {
  const rng = new Rng(11);
  return [5, 9, 9, 9, 14, 14, 30].flatMap((n) => {
    const context = Array.from({ length: n }, () => rng.int(3, vocab));
    return [1, 2, 4, 2].map((m) => ({
      context,
      continuation: Array.from({ length: m }, () => rng.int(3, vocab)),
    }));
  });
}

await runMain(async () => {
  const values = parseFlags(
    Deno.args,
    { device: DEVICE_FLAG, model: { ...MODEL_FLAG, help: "models to check (default: tests/fixtures/*)" } },
    HELP,
  );
  if (values === null) return;
  const device = deviceFlag(values.device);
  const fixtures = fileURLToPath(new URL("../tests/fixtures", import.meta.url));
  const dirs = values.model?.split(",") ??
    readdirSync(fixtures).filter((d) => d !== "geometry").sort().map((d) => join(fixtures, d));
  console.log("| model | prefix reuse | batches | max abs Δ logprob | greedy flips |");
  console.log("| --- | --- | --- | ---: | ---: |");
  for (const dir of dirs) {
    const model = await OnnxModel.load(dir, { device });
    const work = pairs(Math.min(model.vocabSize, 500));
    for (const prefixReuse of [true, false]) {
      for (const sameLengthBatches of [false, true]) {
        const run = (batchSize: number) =>
          new LanguageModel(model, null, { batchSize, prefixReuse, sameLengthBatches, maxLength: 64 })
            .loglikelihoodTokens(work);
        const one = await run(1);
        let worst = 0;
        let flips = 0;
        for (const batchSize of [3, 8, 32]) {
          (await run(batchSize)).forEach((r, i) => {
            worst = Math.max(worst, Math.abs(r.logprob - one[i].logprob));
            if (r.isGreedy !== one[i].isGreedy) flips++;
          });
        }
        console.log(
          `| ${dir.split("/").at(-1)} | ${prefixReuse ? "on" : "off"} | ${
            sameLengthBatches ? "same length" : "padded"
          } | ${worst.toExponential(2)} | ${flips} |`,
        );
      }
    }
    await model.release();
  }
});
