import assert from "node:assert/strict";
import { boolq } from "../../../tasks/lm_harness/boolq.ts";
import { lls, offlineCtx, pairs, tempDir, writeParquet } from "../_fixtures.ts";

Deno.test("boolq puts the passage first and adds the question mark itself", async () => {
  const dir = tempDir();
  await writeParquet(dir, "aps/super_glue", "boolq/validation-00000-of-00001.parquet", [
    {
      question: "is the moon bigger than the earth",
      passage: "The Moon is about a quarter as wide as Earth.",
      idx: 0,
      label: 0,
    },
  ]);
  const [doc] = await boolq.prepare(offlineCtx(dir));
  const context =
    "The Moon is about a quarter as wide as Earth.\nQuestion: is the moon bigger than the earth?\nAnswer:";
  assert.deepEqual(pairs(doc.requests), [[context, " no"], [context, " yes"]]);
  assert.deepEqual(boolq.score(doc, lls([-0.5, -1])), { acc: 1 });
  assert.equal(boolq.version, 2);
});
