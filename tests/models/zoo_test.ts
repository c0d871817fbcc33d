/**
 * The MQAR zoo (models/<family>/): kvbench's MQAR accuracy on the default examples must equal
 * the PyTorch accuracy recorded in TRAINING.json by scripts/train_zoo.py, within 0.5 points.
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { syntheticOptions } from "../../core/tasks.ts";
import { LanguageModel } from "../../evals/lm.ts";
import { OnnxModel } from "../../evals/model/onnx_model.ts";
import type { AnyResponse } from "../../core/requests.ts";
import { mqarTask } from "../../tasks/mqar.ts";

const zoo = fileURLToPath(new URL("../../models", import.meta.url));
const families = existsSync(zoo)
  ? readdirSync(zoo).filter((d) => existsSync(join(zoo, d, "TRAINING.json"))).sort()
  : [];

for (const family of families) {
  Deno.test(`zoo ${family}: kvbench's MQAR accuracy equals PyTorch's within 0.5 points`, async () => {
    const dir = join(zoo, family);
    const training = JSON.parse(readFileSync(join(dir, "TRAINING.json"), "utf8"));
    const model = await OnnxModel.load(dir, { intraOpThreads: 2 });
    try {
      const prepared = await mqarTask.prepare({
        numFewshot: null,
        seed: training.eval.seed,
        limit: training.eval.examples_per_cell,
        vocabSize: model.vocabSize,
        maxLength: 256,
        ...syntheticOptions({ lengths: training.eval.lengths, kvPairs: training.eval.kv_pairs }),
      });
      const lm = new LanguageModel(model, null, { batchSize: 16 });
      const responses = await lm.run(prepared.map((p) => p.requests[0]));
      const accs = prepared.map((p, i) => mqarTask.score(p, [responses[i] as AnyResponse]).acc as number);
      const ours = accs.reduce((a, b) => a + b, 0) / accs.length;
      const theirs = training.pytorch_mqar_accuracy.overall;
      assert.ok(
        Math.abs(ours - theirs) <= 0.005,
        `kvbench ${ours.toFixed(4)} vs PyTorch ${theirs.toFixed(4)}`,
      );
    } finally {
      await model.release();
    }
  });
}
