import assert from "node:assert/strict";
import { evaluate } from "../../evals/evaluate.ts";
import { loadBundle } from "../../evals/model/bundle.ts";
import type { GenerateRequest } from "../../core/requests.ts";
import { Store } from "../../results/store.ts";
import {
  ANSWER,
  answerRecall,
  exactMatch,
  haystackFor,
  NEEDLE,
  NIAH_DEPTHS,
  NIAH_LENGTHS,
  niahTask,
  placeNeedle,
} from "../../tasks/niah.ts";
import { cellKeys, context, haystackDir, LLAMA, tokenizer, withContext } from "./ruler/_fixtures.ts";

const prompt = (p: { requests: unknown[] }) => (p.requests[0] as GenerateRequest).context;

Deno.test("the default grid is 8 lengths from 1K to 16K × depths every 10%", () => {
  assert.deepEqual(NIAH_LENGTHS, [1000, 3143, 5286, 7429, 9571, 11714, 13857, 16000]);
  assert.deepEqual(NIAH_DEPTHS, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
});

Deno.test("placeNeedle puts the needle after the last sentence end at or before the offset", () => {
  const text = "One two. Three four. Five six.";
  assert.deepEqual(placeNeedle(text, "|N|", 12), { text: "One two.|N| Three four. Five six.", offset: 8 });
  assert.equal(placeNeedle(text, "|N|", 20).offset, 20);
  assert.equal(placeNeedle(text, "|N|", 3).offset, 0, "before the first end: at the start");
  assert.equal(placeNeedle(text, "|N|", 99).text, `${text}|N|`);
});

Deno.test("exact match needs the answer's words in order; recall counts the words found", () => {
  assert.equal(
    exactMatch(" The best thing is to Eat a sandwich, and sit in Dolores Park on a sunny day!", ANSWER),
    1,
  );
  assert.equal(exactMatch("eat a sandwich and sit in Dolores Park", ANSWER), 0);
  assert.equal(answerRecall("eat a sandwich and sit in Dolores Park", ANSWER), 8 / 12);
  assert.equal(answerRecall("", ANSWER), 0);
  assert.equal(answerRecall("a a a", "a sunny a"), 2 / 3, "each answer word is matched once");
});

Deno.test("each cell hides the needle exactly once, at its depth, within the length", async () => {
  const ctx = context({
    haystackDir: haystackDir(),
    lengths: [512, 1024],
    depths: [0, 25, 50, 75, 100],
    limit: null,
  });
  const prepared = await niahTask.prepare(ctx);
  assert.equal(prepared.length, 10);
  for (const p of prepared) {
    const text = prompt(p);
    assert.equal(text.split(NEEDLE).length - 1, 1, "the needle appears once");
    const { length, depth, tokens } = p.doc;
    assert.deepEqual(p.slices, { contextLen: length, depth });
    const used = tokenizer.encode(text, true).length + 64;
    assert.equal(used, tokens);
    assert.ok(used <= length && used > length - 4, `${used} within a few tokens of ${length}`);
    const haystack = text.slice(text.indexOf("<context>\n") + 10, text.indexOf("\n</context>"));
    const before = tokenizer.encode(haystack.slice(0, haystack.indexOf(NEEDLE))).length;
    const total = tokenizer.encode(haystack.replace(NEEDLE, "")).length;
    const achieved = (100 * before) / total;
    // Sentences here are ~25 tokens, so a sentence boundary is within that of the depth.
    assert.ok(achieved <= depth + 1 && achieved > depth - (100 * 30) / total, `depth ${depth}: ${achieved}`);
    assert.ok(text.endsWith("Assistant: Here is the most relevant sentence in the context:"));
    assert.equal(p.target, ANSWER);
  }
});

Deno.test("NIAH is deterministic; extra samples per cell start the haystack elsewhere", async () => {
  const ctx = context({ haystackDir: haystackDir(), lengths: [512], depths: [50], limit: 3 });
  const a = (await niahTask.prepare(ctx)).map(prompt);
  const b = (await niahTask.prepare(ctx)).map(prompt);
  assert.deepEqual(a, b);
  assert.equal(new Set(a).size, 3, "three different haystacks");
  const essays = "A b. C d. E f. G h.";
  assert.equal(haystackFor(essays, 0, 1), essays);
  assert.notEqual(haystackFor(essays, 1, 1), essays);
  assert.equal(haystackFor(essays, 1, 1).length, essays.length - 1, "a rotation at a sentence end");
});

Deno.test("NIAH refuses lengths the model cannot take and depths outside 0–100", async () => {
  const dir = haystackDir();
  await assert.rejects(() => niahTask.prepare(context({ haystackDir: dir, lengths: [9000] })), /--lengths/);
  await assert.rejects(() => niahTask.prepare(context({ haystackDir: dir, depths: [120] })), /depth 120/);
  await assert.rejects(() => niahTask.prepare(context({ lengths: [512] })), /--haystack-dir/);
  await assert.rejects(
    () => niahTask.prepare(context({ haystackDir: dir, lengths: [150] })),
    /Cannot fit niah/,
  );
});

Deno.test("NIAH runs end to end on the tiny model and stores results per length × depth", async () => {
  const bundle = await loadBundle(LLAMA);
  const store = await Store.open(":memory:");
  const task = withContext(niahTask, { haystackDir: haystackDir(), depths: [0, 50, 100] });
  const { results } = await evaluate(bundle, store, {
    tasks: [task],
    synthetic: { lengths: [512, 1024] },
    maxLength: 1024,
    progress: false,
  });
  const cells = ["0", "50", "100"].flatMap((d) => ["512", "1024"].map((l) => `${l}/${d}`));
  const expected = ["exact_match", "recall"].flatMap((m) => cells.map((c) => `${m}@-/${c}`)).sort();
  assert.deepEqual(cellKeys(results, "niah"), expected);
  const overall = results.find((r) =>
    r.task === "niah" && r.metric === "exact_match" && r.contextLen == null
  )!;
  assert.equal(overall.n, 6);
  store.close();
});

Deno.test("niah's check refuses, before any model runs, what its prepare would fail on", async () => {
  await assert.rejects(
    () => niahTask.check!(context({ lengths: [512] })),
    /needs an essay haystack: pass --haystack-dir/,
  );
  await assert.rejects(
    () => niahTask.check!(context({ haystackDir: haystackDir(), lengths: [64] })),
    /Cannot fit niah into 64 tokens: its prompt and needle alone take \d+/,
  );
  await assert.rejects(
    () => niahTask.check!(context({ haystackDir: haystackDir(), lengths: [512, 8192] })),
    /Cannot run niah at length 8192 as the model's max length is 4096/,
  );
  assert.deepEqual(await niahTask.check!(context({ haystackDir: haystackDir(), lengths: [512] })), []);
});
