import assert from "node:assert/strict";
import { arcChallenge, arcEasy } from "../../../tasks/lm_harness/arc.ts";
import type { DataFileRecord } from "../../../core/tasks.ts";
import { lls, offlineCtx, pairs, tempDir, writeParquet } from "../_fixtures.ts";

const REPO = "allenai/ai2_arc";

const arcDoc = (
  id: string,
  question: string,
  texts: string[],
  answerKey: string,
  labels = ["A", "B", "C", "D"],
) => ({
  id,
  question,
  choices: { text: texts, label: labels.slice(0, texts.length) },
  answerKey,
});

const TEST = [
  arcDoc(
    "t1",
    "Which gas do plants take in from the air?",
    ["oxygen", "carbon dioxide", "helium", "neon"],
    "B",
  ),
  arcDoc("t2", "What melts ice fastest?", ["salt", "sand", "sawdust"], "1", ["1", "2", "3"]),
];
const TRAIN = [
  arcDoc("r0", "What do bees make?", ["milk", "honey"], "B"),
  arcDoc("r1", "Which is a mammal?", ["whale", "shark"], "A"),
  arcDoc("r2", "What pulls objects toward Earth?", ["gravity", "magnetism"], "A"),
  arcDoc("r3", "Which planet is largest?", ["Mars", "Jupiter"], "B"),
];

async function arcDir(config = "ARC-Easy"): Promise<string> {
  const dir = tempDir();
  await writeParquet(dir, REPO, `${config}/test-00000-of-00001.parquet`, TEST);
  await writeParquet(dir, REPO, `${config}/train-00000-of-00001.parquet`, TRAIN);
  return dir;
}

Deno.test("arc_easy builds lm-eval's zero-shot prompt with one request per choice", async () => {
  const seen: DataFileRecord[] = [];
  const prepared = await arcEasy.prepare(offlineCtx(await arcDir(), {}, seen));
  assert.equal(prepared.length, 2);
  const q = "Question: Which gas do plants take in from the air?\nAnswer:";
  assert.deepEqual(pairs(prepared[0].requests), [
    [q, " oxygen"],
    [q, " carbon dioxide"],
    [q, " helium"],
    [q, " neon"],
  ]);
  assert.equal(prepared[0].target, "1");
  // Numeric labels ("1", "2", "3") index the same way.
  assert.deepEqual(arcEasy.score(prepared[1], lls([-1, -2, -3])), { acc: 1, acc_norm: 1 });
  assert.equal(prepared[1].requests.length, 3);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].path, "ARC-Easy/test-00000-of-00001.parquet");
  assert.equal(seen[0].origin, "data-dir");
  assert.match(seen[0].sha256, /^[0-9a-f]{64}$/);
});

Deno.test("arc_easy draws shots like lm-eval's seeded sampler, doc after doc", async () => {
  // Python: r = random.Random(1234); r.sample(range(4), 2) → [3, 0]; then r.sample(range(4), 2) → [0, 3]
  const prepared = await arcEasy.prepare(offlineCtx(await arcDir(), { numFewshot: 2 }));
  const shot = (i: number) => {
    const d = TRAIN[i];
    return `Question: ${d.question}\nAnswer: ${d.choices.text[d.choices.label.indexOf(d.answerKey)]}\n\n`;
  };
  assert.equal(
    prepared[0].requests[0].kind === "loglikelihood" && prepared[0].requests[0].context,
    "Question: Which planet is largest?\nAnswer: Jupiter\n\n" +
      "Question: What do bees make?\nAnswer: honey\n\n" +
      "Question: Which gas do plants take in from the air?\nAnswer:",
  );
  assert.equal(
    prepared[1].requests[0].kind === "loglikelihood" && prepared[1].requests[0].context,
    shot(0) + shot(3) + "Question: What melts ice fastest?\nAnswer:",
  );
});

Deno.test("arc_easy's shots follow the seed", async () => {
  // Python: r = random.Random(5); r.sample(range(4), 2) → [2, 3]
  const prepared = await arcEasy.prepare(offlineCtx(await arcDir(), { numFewshot: 2, seed: 5, limit: 1 }));
  assert.equal(prepared.length, 1);
  const first = prepared[0].requests[0];
  assert.ok(first.kind === "loglikelihood");
  assert.ok(
    first.context.startsWith(
      "Question: What pulls objects toward Earth?\nAnswer: gravity\n\nQuestion: Which",
    ),
  );
});

Deno.test("arc scoring: acc takes the raw argmax, acc_norm divides by the choice's characters", async () => {
  const [doc] = await arcEasy.prepare(offlineCtx(await arcDir(), { limit: 1 }));
  // " carbon dioxide" (14 chars, gold) loses on raw loglikelihood but wins per character.
  const scores = arcEasy.score(doc, lls([-6, -10, -9, -9]));
  assert.deepEqual(scores, { acc: 0, acc_norm: 1 });
  assert.deepEqual(arcEasy.score(doc, lls([-12, -3, -9, -9])), { acc: 1, acc_norm: 1 });
  assert.deepEqual(Object.keys(arcEasy.metrics), ["acc", "acc_norm"]);
});

Deno.test("arc_challenge reads the ARC-Challenge config and records lm-eval's settings", async () => {
  const prepared = await arcChallenge.prepare(offlineCtx(await arcDir("ARC-Challenge")));
  assert.equal(prepared.length, 2);
  const config = arcChallenge.config(offlineCtx(""));
  assert.equal(config.dataset_path, "allenai/ai2_arc");
  assert.equal(config.dataset_name, "ARC-Challenge");
  assert.equal(config.doc_to_text, "Question: {{question}}\nAnswer:");
  assert.equal(arcChallenge.version, 1);
});

Deno.test("arc names the file, row and field of a bad answer key", async () => {
  const dir = tempDir();
  await writeParquet(dir, REPO, "ARC-Easy/test-00000-of-00001.parquet", [TEST[0], {
    ...TEST[0],
    answerKey: "E",
  }]);
  await assert.rejects(
    arcEasy.prepare(offlineCtx(dir)),
    /Cannot read row 1 of .*ARC-Easy\/test-00000-of-00001\.parquet: field "answerKey" should be one of the labels/,
  );
});

Deno.test("with downloads off, arc's check wants the train split only when shots are asked for", async () => {
  const dir = tempDir();
  await writeParquet(dir, REPO, "ARC-Easy/test-00000-of-00001.parquet", TEST);
  assert.deepEqual(await arcEasy.check!(offlineCtx(dir)), []);
  await assert.rejects(
    () => arcEasy.check!(offlineCtx(dir, { numFewshot: 3 })),
    /Cannot load arc_easy \(allenai\/ai2_arc, split train\) as .*ARC-Easy\/train-00000-of-00001\.parquet is missing/,
  );
  // With downloads on, nothing is checked up front: the run downloads what it needs.
  assert.deepEqual(await arcEasy.check!(offlineCtx(dir, { numFewshot: 3, download: true })), []);
});
