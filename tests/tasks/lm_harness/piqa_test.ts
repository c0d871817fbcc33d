import assert from "node:assert/strict";
import { piqa } from "../../../tasks/lm_harness/piqa.ts";
import { lls, offlineCtx, pairs, tempDir, writeParquet } from "../_fixtures.ts";

Deno.test("piqa asks for the goal and offers both solutions", async () => {
  const dir = tempDir();
  await writeParquet(dir, "baber/piqa", "piqa_validation.parquet", [
    {
      goal: "Keep bread fresh longer",
      sol1: "Store it in a sealed bag.",
      sol2: "Leave it in the sun.",
      label: 0,
    },
  ]);
  const [doc] = await piqa.prepare(offlineCtx(dir));
  const q = "Question: Keep bread fresh longer\nAnswer:";
  assert.deepEqual(pairs(doc.requests), [[q, " Store it in a sealed bag."], [q, " Leave it in the sun."]]);
  // Solution 2 wins outright, solution 1 (25 chars vs 20) per character.
  assert.deepEqual(piqa.score(doc, lls([-10, -9])), { acc: 0, acc_norm: 1 });
});
