import assert from "node:assert/strict";
import { race } from "../../../tasks/lm_harness/race.ts";
import { lls, offlineCtx, pairs, tempDir, writeJsonl } from "../_fixtures.ts";

// `problems` is stored as Python's repr() of a list of dicts.
const TEST = [
  {
    example_id: "high1.txt",
    article: "Lena grew tomatoes on her balcony. Each morning she watered them.",
    problems:
      "[{'answer': 'C', 'options': ['sad', 'late', 'proud', 'lost'], 'question': 'When the first tomato ripened, Lena felt  _  .'}, " +
      "{'answer': 'A', 'options': ['tomatoes', 'roses', 'beans', 'corn'], 'question': 'What did Lena grow?'}, " +
      "{'answer': 'B', 'options': ['at night', \"in the morning\", 'at noon', 'never'], 'question': 'When did she water them?'}]",
  },
  {
    example_id: "high2.txt",
    article: "The library opens at nine.",
    problems:
      "[{'answer': 'D', 'options': ['eight', 'ten', 'noon', 'nine'], 'question': 'The library opens at  _  .'}]",
  },
];

function dir(): string {
  const d = tempDir();
  writeJsonl(d, "EleutherAI/race", "race_high_test.jsonl", TEST);
  return d;
}

const DOC0 = "Article: Lena grew tomatoes on her balcony. Each morning she watered them.\n\n" +
  "When the first tomato ripened, Lena felt proud\n" +
  "Question: What did Lena grow?\nAnswer: tomatoes\n" +
  "When did she water them?";
const DOC1 = "Article: The library opens at nine.\n\nThe library opens at  _  .";

Deno.test("race answers every question but the last, filling cloze blanks, then asks the last", async () => {
  const [first, second] = await race.prepare(offlineCtx(dir()));
  assert.deepEqual(pairs(first.requests), [
    [DOC0, " at night"],
    [DOC0, " in the morning"],
    [DOC0, " at noon"],
    [DOC0, " never"],
  ]);
  assert.equal(first.target, "1");
  assert.equal(pairs(second.requests)[3][0], DOC1);
  assert.deepEqual(race.score(second, lls([-4, -4, -4, -3])), { acc: 1 });
});

Deno.test("race draws shots from the test split itself, without excluding the doc", async () => {
  // Python: r = random.Random(1234); r.sample(range(2), 1) → [1]; r.sample(range(2), 1) → [0]
  const [first, second] = await race.prepare(offlineCtx(dir(), { numFewshot: 1 }));
  assert.equal(pairs(first.requests)[0][0], `${DOC1} nine\n\n${DOC0}`);
  assert.equal(pairs(second.requests)[0][0], `${DOC0} in the morning\n\n${DOC1}`);
});

Deno.test("race names the row whose problems are not a Python literal", async () => {
  const d = tempDir();
  writeJsonl(d, "EleutherAI/race", "race_high_test.jsonl", [{ article: "A.", problems: "[{'answer': 'A'" }]);
  await assert.rejects(
    race.prepare(offlineCtx(d)),
    /Cannot read row 0 of .*race_high_test\.jsonl: field "problems"/,
  );
});
