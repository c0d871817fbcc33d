import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { pubmedqa } from "../../../tasks/lm_harness/pubmedqa.ts";
import type { DataFileRecord } from "../../../core/tasks.ts";
import { lls, offlineCtx, pairs, tempDir } from "../_fixtures.ts";

// fixtures/pqal.zip mirrors bigbio/pubmed_qa's pqal.zip: pqal_test_set.json (ids 30412, 1207, in
// that order) and pqal_fold0/train_set.json (ids 9001, 15), each an object of records keyed by id.
const ZIP = new URL("../data/fixtures/pqal.zip", import.meta.url).pathname;

function dir(): string {
  const d = tempDir();
  mkdirSync(join(d, "bigbio", "pubmed_qa"), { recursive: true });
  copyFileSync(ZIP, join(d, "bigbio", "pubmed_qa", "pqal.zip"));
  return d;
}

Deno.test("pubmedqa joins the abstract's contexts by newlines and keeps the file's order of ids", async () => {
  const seen: DataFileRecord[] = [];
  const [first, second] = await pubmedqa.prepare(offlineCtx(dir(), {}, seen));
  const context = "Abstract: Forty adults walked for thirty minutes a day for twelve weeks.\n" +
    "Resting heart rate fell by six beats per minute on average.\n" +
    "Question: Does daily walking lower resting heart rate in older adults?\nAnswer:";
  assert.deepEqual(pairs(first.requests), [[context, " yes"], [context, " no"], [context, " maybe"]]);
  assert.equal(first.target, "yes");
  // Id 1207 comes second as in the file, though JSON.parse would have put it first.
  assert.equal(second.target, "maybe");
  assert.deepEqual(pubmedqa.score(second, lls([-3, -2, -1])), { acc: 1 });
  assert.equal(seen[0].member, "pqal_test_set.json");
  assert.equal(seen[0].path, "pqal.zip");
});

Deno.test("pubmedqa shots answer with the decision's word", async () => {
  // Python: random.Random(1234).sample(range(2), 1) → [1]: the second train record (id 15).
  const [first] = await pubmedqa.prepare(offlineCtx(dir(), { numFewshot: 1, limit: 1 }));
  assert.ok(
    pairs(first.requests)[0][0].startsWith(
      "Abstract: Students chewed gum before a word-list test.\nQuestion: Does chewing gum improve memory?\nAnswer: no\n\n" +
        "Abstract: Forty adults",
    ),
  );
});
