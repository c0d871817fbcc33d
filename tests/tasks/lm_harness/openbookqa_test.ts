import assert from "node:assert/strict";
import { openbookqa } from "../../../tasks/lm_harness/openbookqa.ts";
import { offlineCtx, pairs, tempDir, writeParquet } from "../_fixtures.ts";

Deno.test("openbookqa uses the bare question stem and strips the answer key's left side", async () => {
  const dir = tempDir();
  await writeParquet(dir, "allenai/openbookqa", "main/test-00000-of-00001.parquet", [
    {
      id: "7-1",
      question_stem: "A magnet will stick to",
      choices: {
        text: ["a wooden spoon", "an iron nail", "a glass cup", "a paper towel"],
        label: ["A", "B", "C", "D"],
      },
      answerKey: " B",
    },
  ]);
  const [doc] = await openbookqa.prepare(offlineCtx(dir));
  assert.deepEqual(pairs(doc.requests), [
    ["A magnet will stick to", " a wooden spoon"],
    ["A magnet will stick to", " an iron nail"],
    ["A magnet will stick to", " a glass cup"],
    ["A magnet will stick to", " a paper towel"],
  ]);
  assert.equal(doc.target, "1");
  assert.deepEqual(Object.keys(openbookqa.metrics), ["acc", "acc_norm"]);
});
