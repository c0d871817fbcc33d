import assert from "node:assert/strict";
import { hellaswag, preprocess } from "../../../tasks/lm_harness/hellaswag.ts";
import { lls, offlineCtx, pairs, tempDir, writeParquet } from "../_fixtures.ts";

const REPO = "Rowan/hellaswag";

const row = (
  ind: number,
  split: string,
  activity: string,
  ctxA: string,
  ctxB: string,
  endings: string[],
  label: string,
) => ({
  ind,
  activity_label: activity,
  ctx_a: ctxA,
  ctx_b: ctxB,
  ctx: `${ctxA} ${ctxB}`,
  endings,
  source_id: `src-${ind}`,
  split,
  split_type: "indomain",
  label,
});

const VALIDATION = [
  row(
    0,
    "val",
    "Gardening",
    "  How to water a fern [title] Check the soil first.",
    "yOU can press a finger into it.",
    [
      "[step] Pour slowly   around the base. ",
      "Spray the leaves [substeps] daily.",
      "Use cold [a\nb] water.",
      "Sing to it.",
    ],
    "0",
  ),
];
const TRAIN = [
  row(10, "train", "Cooking", "A cook cracks an egg.", "she whisks it.", [
    "fries it.",
    "throws it.",
    "paints it.",
    "hides it.",
  ], "0"),
  row(11, "train", "Running", "A man laces his shoes.", "he jogs off.", [
    "sleeps.",
    "runs a mile.",
    "sits.",
    "cries.",
  ], "1"),
  row(12, "train", "Drawing", "A girl holds a pencil.", "she sketches.", [
    "a cat.",
    "eats.",
    "swims.",
    "flies.",
  ], "0"),
];

Deno.test("preprocess() strips, turns [title] into a full stop, drops brackets and halves double spaces once", () => {
  assert.equal(preprocess("[step] Pour slowly   around the base. "), " Pour slowly  around the base.");
  assert.equal(preprocess("Spray the leaves [substeps] daily."), "Spray the leaves daily.");
  // Python's "." does not cross a newline, so a bracket pair spanning lines stays.
  assert.equal(preprocess("Use cold [a\nb] water."), "Use cold [a\nb] water.");
});

Deno.test("hellaswag builds the processed query and endings as lm-eval does", async () => {
  const dir = tempDir();
  await writeParquet(dir, REPO, "data/validation-00000-of-00001.parquet", VALIDATION);
  const [doc] = await hellaswag.prepare(offlineCtx(dir));
  const q = "Gardening:  How to water a fern. Check the soil first. You can press a finger into it.";
  assert.deepEqual(pairs(doc.requests), [
    [q, "  Pour slowly  around the base."],
    [q, " Spray the leaves daily."],
    [q, " Use cold [a\nb] water."],
    [q, " Sing to it."],
  ]);
  assert.equal(doc.target, "0");
  assert.equal(doc.doc.gold, 0);
});

Deno.test("hellaswag drops the evaluated doc from its own shots (one extra draw)", async () => {
  // The validation doc also sits in the pool, as lm-eval compares docs by value.
  // Python: r = random.Random(1234); r.sample(range(3), 2) → [1, 0]: pool[1] is the doc itself,
  // so the shot is pool[0].
  const dir = tempDir();
  await writeParquet(dir, REPO, "data/validation-00000-of-00001.parquet", VALIDATION);
  await writeParquet(dir, REPO, "data/train-00000-of-00001.parquet", [TRAIN[0], VALIDATION[0], TRAIN[2]]);
  const [doc] = await hellaswag.prepare(offlineCtx(dir, { numFewshot: 1 }));
  const first = doc.requests[0];
  assert.ok(first.kind === "loglikelihood");
  assert.equal(
    first.context,
    "Cooking: A cook cracks an egg. She whisks it. fries it.\n\n" +
      "Gardening:  How to water a fern. Check the soil first. You can press a finger into it.",
  );
});

Deno.test("hellaswag acc_norm prefers the ending with the best loglikelihood per character", async () => {
  const dir = tempDir();
  await writeParquet(dir, REPO, "data/validation-00000-of-00001.parquet", VALIDATION);
  const [doc] = await hellaswag.prepare(offlineCtx(dir));
  // Choice 0 has 30 characters, choice 3 has 11: −15/30 beats −9/11 though −9 beats −15.
  assert.deepEqual(hellaswag.score(doc, lls([-15, -40, -40, -9])), { acc: 0, acc_norm: 1 });
});
