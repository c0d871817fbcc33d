import assert from "node:assert/strict";
import {
  MMLU_CATEGORIES,
  MMLU_GROUPS,
  MMLU_SUBJECTS,
  MMLU_TASKS,
  mmluTask,
} from "../../../tasks/lm_harness/mmlu.ts";
import { lls, offlineCtx, pairs, tempDir, writeParquet } from "../_fixtures.ts";

const REPO = "cais/mmlu";
const SUBJECT = "high_school_government_and_politics";

const q = (question: string, choices: string[], answer: number) => ({
  question,
  subject: SUBJECT,
  choices,
  answer,
});

const TEST = [
  q("  How many chambers does a bicameral legislature have?\n", ["one", "two", "three", "four"], 1),
  q("Who signs a bill into law in a presidential system?", [
    "the judge",
    "the mayor",
    "the president",
    "the clerk",
  ], 2),
];
const DEV = [
  q("What is a ballot?", ["a vote form", "a tax", "a court", "a law"], 0),
  q("What is a veto?", ["a speech", "a rejection", "a party", "a map"], 1),
  q("Who counts votes?", ["poll workers", "pilots", "chefs", "sailors"], 0),
  q("What is a term limit?", ["a tax cap", "a cap on time in office", "a speed limit", "a fee"], 1),
  q("What does a census count?", ["trees", "cars", "people", "rivers"], 2),
  q("Sixth dev question, never used?", ["w", "x", "y", "z"], 3),
];

async function mmluDir(): Promise<string> {
  const dir = tempDir();
  await writeParquet(dir, REPO, `${SUBJECT}/test-00000-of-00001.parquet`, TEST);
  await writeParquet(dir, REPO, `${SUBJECT}/dev-00000-of-00001.parquet`, DEV);
  return dir;
}

const HEADER =
  "The following are multiple choice questions (with answers) about high school government and politics.\n\n";

Deno.test("mmlu zero-shot: subject header, stripped question, lettered choices, continuations ' A'–' D'", async () => {
  const task = MMLU_TASKS[`mmlu_${SUBJECT}`];
  const [doc] = await task.prepare(offlineCtx(await mmluDir()));
  const context = HEADER +
    "How many chambers does a bicameral legislature have?\nA. one\nB. two\nC. three\nD. four\nAnswer:";
  assert.deepEqual(pairs(doc.requests), [[context, " A"], [context, " B"], [context, " C"], [context, " D"]]);
  assert.equal(doc.target, "1");
});

Deno.test("mmlu 5-shot takes the first five dev questions in order, after the header", async () => {
  const prepared = await mmluTask(SUBJECT).prepare(offlineCtx(await mmluDir(), { numFewshot: 5 }));
  const expected = HEADER +
    "What is a ballot?\nA. a vote form\nB. a tax\nC. a court\nD. a law\nAnswer: A\n\n" +
    "What is a veto?\nA. a speech\nB. a rejection\nC. a party\nD. a map\nAnswer: B\n\n" +
    "Who counts votes?\nA. poll workers\nB. pilots\nC. chefs\nD. sailors\nAnswer: A\n\n" +
    "What is a term limit?\nA. a tax cap\nB. a cap on time in office\nC. a speed limit\nD. a fee\nAnswer: B\n\n" +
    "What does a census count?\nA. trees\nB. cars\nC. people\nD. rivers\nAnswer: C\n\n" +
    "Who signs a bill into law in a presidential system?\nA. the judge\nB. the mayor\nC. the president\nD. the clerk\nAnswer:";
  assert.equal(pairs(prepared[1].requests)[2][0], expected);
  // first_n ignores the seed: every doc gets the same shots.
  assert.equal(pairs(prepared[0].requests)[0][0].slice(0, 200), expected.slice(0, 200));
});

Deno.test("mmlu refuses more shots than the dev split has", async () => {
  await assert.rejects(
    mmluTask(SUBJECT).prepare(offlineCtx(await mmluDir(), { numFewshot: 7 })),
    /Cannot take 7 few-shot examples from mmlu_high_school_government_and_politics's dev split: it has 6/,
  );
});

Deno.test("mmlu scores acc only", async () => {
  const [doc] = await mmluTask(SUBJECT).prepare(offlineCtx(await mmluDir(), { limit: 1 }));
  assert.deepEqual(mmluTask(SUBJECT).score(doc, lls([-2, -1, -3, -4])), { acc: 1 });
  assert.deepEqual(Object.keys(mmluTask(SUBJECT).metrics), ["acc"]);
});

Deno.test("mmlu has 57 subjects in 4 categories, and groups nested as lm-eval's", () => {
  assert.equal(MMLU_SUBJECTS.length, 57);
  assert.equal(Object.keys(MMLU_TASKS).length, 57);
  assert.deepEqual(Object.values(MMLU_CATEGORIES).map((c) => c.length), [19, 13, 12, 13]);
  assert.deepEqual(MMLU_GROUPS.map((g) => g.name), [
    "mmlu_stem",
    "mmlu_other",
    "mmlu_social_sciences",
    "mmlu_humanities",
    "mmlu",
  ]);
  assert.equal(MMLU_GROUPS.slice(0, 4).flatMap((g) => g.tasks).length, 57);
});
