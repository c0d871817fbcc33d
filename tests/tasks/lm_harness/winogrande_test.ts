import assert from "node:assert/strict";
import { winogrande } from "../../../tasks/lm_harness/winogrande.ts";
import { lls, offlineCtx, pairs, tempDir, writeParquet } from "../_fixtures.ts";

const REPO = "allenai/winogrande";

const VALIDATION = [
  {
    sentence: "The trophy did not fit in the suitcase because _ was too big.",
    option1: "the trophy",
    option2: "the suitcase",
    answer: "1",
  },
  {
    sentence: "Maria lent Ann her umbrella because _ had two.",
    option1: "Maria",
    option2: "Ann",
    answer: "2",
  },
];
const TRAIN = [
  { sentence: "The ice melted because _ was warm.", option1: "the sun", option2: "the ice", answer: "1" },
  { sentence: "Tom thanked Sam because _ had helped him.", option1: "Tom", option2: "Sam", answer: "2" },
  { sentence: "The glass broke when _ fell.", option1: "it", option2: "the floor", answer: "1" },
];

async function dir(): Promise<string> {
  const d = tempDir();
  await writeParquet(d, REPO, "winogrande_xl/validation-00000-of-00001.parquet", VALIDATION);
  await writeParquet(d, REPO, "winogrande_xl/train-00000-of-00001.parquet", TRAIN);
  return d;
}

Deno.test("winogrande scores the shared rest of the sentence after each option-filled context", async () => {
  const [first, second] = await winogrande.prepare(offlineCtx(await dir()));
  assert.deepEqual(pairs(first.requests), [
    ["The trophy did not fit in the suitcase because the trophy", " was too big."],
    ["The trophy did not fit in the suitcase because the suitcase", " was too big."],
  ]);
  assert.equal(first.target, "was too big.");
  assert.deepEqual(winogrande.score(first, lls([-1, -2])), { acc: 1 });
  assert.deepEqual(winogrande.score(second, lls([-2, -1])), { acc: 1 });
});

Deno.test("winogrande's prediction is the context under which the continuation is likeliest", async () => {
  const [, doc] = await winogrande.prepare(offlineCtx(await dir()));
  assert.deepEqual(winogrande.score(doc, lls([-5, -4])), { acc: 1 });
  assert.deepEqual(winogrande.score(doc, lls([-3, -4])), { acc: 0 });
  assert.deepEqual(Object.keys(winogrande.metrics), ["acc"]);
});

Deno.test("winogrande shots show the gold option filled in, then the rest", async () => {
  // Python: random.Random(1234).sample(range(3), 2) → [1, 0]; the eval doc is not in the pool,
  // so the first draw is kept.
  const [doc] = await winogrande.prepare(offlineCtx(await dir(), { numFewshot: 1, limit: 1 }));
  const shot = "Tom thanked Sam because Sam had helped him.\n\n";
  assert.deepEqual(pairs(doc.requests), [
    [shot + "The trophy did not fit in the suitcase because the trophy", " was too big."],
    [shot + "The trophy did not fit in the suitcase because the suitcase", " was too big."],
  ]);
});
