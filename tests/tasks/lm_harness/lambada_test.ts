import assert from "node:assert/strict";
import { aggregate } from "../../../evals/metrics.ts";
import { lambadaOpenai } from "../../../tasks/lm_harness/lambada.ts";
import { lls, offlineCtx, pairs, tempDir, writeJsonl } from "../_fixtures.ts";

const TEST = [
  { text: "She opened the door and the cold wind blew in, so she reached for her coat" },
  { text: "He counted the coins twice before he paid the  driver" },
];

function dir(): string {
  const d = tempDir();
  writeJsonl(d, "EleutherAI/lambada_openai", "data/lambada_test.jsonl", TEST);
  return d;
}

Deno.test("lambada_openai scores ' ' + the last word after the rest of the passage", async () => {
  const [first, second] = await lambadaOpenai.prepare(offlineCtx(dir()));
  assert.deepEqual(pairs(first.requests), [
    ["She opened the door and the cold wind blew in, so she reached for her", " coat"],
  ]);
  // Split on single spaces, as Python's split(' '): the double space survives in the context.
  assert.deepEqual(pairs(second.requests), [["He counted the coins twice before he paid the ", " driver"]]);
  assert.equal(first.target, " coat");
});

Deno.test("lambada_openai: acc is greedy-exactness, perplexity is exp(−mean loglikelihood)", async () => {
  const prepared = await lambadaOpenai.prepare(offlineCtx(dir()));
  const a = lambadaOpenai.score(prepared[0], lls([-1], [true]));
  const b = lambadaOpenai.score(prepared[1], lls([-3], [false]));
  assert.deepEqual(a, { acc: 1, perplexity: -1 });
  assert.deepEqual(b, { acc: 0, perplexity: -3 });
  assert.equal(aggregate([a.perplexity, b.perplexity], "perplexity", 200).value, Math.exp(2));
  assert.equal(lambadaOpenai.metrics.perplexity.aggregation, "perplexity");
});

Deno.test("lambada_openai shots come from the test split with the target's own space after the delimiter", async () => {
  // Python: random.Random(1234).sample(range(2), 1) → [1]
  const [first] = await lambadaOpenai.prepare(offlineCtx(dir(), { numFewshot: 1, limit: 1 }));
  assert.equal(
    pairs(first.requests)[0][0],
    "He counted the coins twice before he paid the   driver\n\n" +
      "She opened the door and the cold wind blew in, so she reached for her",
  );
});
