import assert from "node:assert/strict";
import { sciq } from "../../../tasks/lm_harness/sciq.ts";
import { lls, offlineCtx, pairs, tempDir, writeParquet } from "../_fixtures.ts";

Deno.test("sciq left-strips the support, asks the question, and puts the answer last", async () => {
  const dir = tempDir();
  await writeParquet(dir, "allenai/sciq", "data/test-00000-of-00001.parquet", [
    {
      question: "What gas do animals breathe out?",
      distractor3: "helium",
      distractor1: "oxygen",
      distractor2: "nitrogen",
      correct_answer: "carbon dioxide",
      support: "\n  Animals take in oxygen and release carbon dioxide. ",
    },
  ]);
  const [doc] = await sciq.prepare(offlineCtx(dir));
  const context =
    "Animals take in oxygen and release carbon dioxide. \nQuestion: What gas do animals breathe out?\nAnswer:";
  assert.deepEqual(pairs(doc.requests), [
    [context, " oxygen"],
    [context, " nitrogen"],
    [context, " helium"],
    [context, " carbon dioxide"],
  ]);
  assert.equal(doc.target, "3");
  assert.deepEqual(sciq.score(doc, lls([-5, -20, -20, -7])), { acc: 0, acc_norm: 1 });
});
