import assert from "node:assert/strict";
import { evaluate } from "../../evals/evaluate.ts";
import { loadBundle } from "../../evals/model/bundle.ts";
import type { TokenArgmaxRequest } from "../../core/requests.ts";
import { Store } from "../../results/store.ts";
import { mqar } from "../../tasks/mqar.ts";
import {
  itemText,
  MQAR_TEXT_HEADER,
  mqarTextTask,
  renderExample,
  textVocab,
  tokenizeExample,
} from "../../tasks/mqar_text.ts";
import { cellKeys, context, LLAMA, madeUpWords, tokenizer } from "./ruler/_fixtures.ts";

const vocab = textVocab(madeUpWords(300));
const example = mqar({ vocabSize: vocab.size, seqLen: 40, numKvPairs: 4, numExamples: 1, seed: 3 })[0];

Deno.test("items become words (ids below V/2) and four-digit numbers (from V/2)", () => {
  assert.equal(vocab.size, 600);
  assert.equal(itemText(vocab, 5), vocab.words[5]);
  assert.equal(itemText(vocab, 300), "1000");
  assert.equal(itemText(vocab, 599), "1299");
  assert.equal(textVocab(madeUpWords(5000)).size, 8192, "V/2 is capped at 4096");
});

Deno.test("the text lists mqar()'s pairs, then its items with each query followed by its value", () => {
  const { segments, valueSegment, answers } = renderExample(vocab, example, 4);
  const text = segments.join("");
  assert.ok(text.startsWith(MQAR_TEXT_HEADER));
  const [pairs, queries] = text.slice(MQAR_TEXT_HEADER.length).split("\n");
  const keys = [0, 2, 4, 6].map((i) => itemText(vocab, example.tokens[i]));
  const values = [1, 3, 5, 7].map((i) => itemText(vocab, example.tokens[i]));
  assert.equal(pairs, keys.map((k, i) => ` ${k}: ${values[i]}`).join(""));
  // Queries in query order, each key answered with its value (recoverable from the pairs).
  assert.deepEqual(answers, example.values.map((v) => itemText(vocab, v)));
  for (const [q, seg] of valueSegment.entries()) {
    const key = itemText(vocab, example.tokens[example.positions[q]]);
    assert.equal(segments[seg - 1], ` ${key}:`);
    assert.equal(segments[seg], ` ${answers[q]}`);
    assert.ok(pairs.includes(` ${key}: ${answers[q]}`));
  }
  assert.equal((queries.match(/:/g) ?? []).length, 4, "only the queries carry a colon");
  assert.equal(
    segments.length - 1 - 8 - 1,
    40 - 8,
    "one segment per remaining item, values replacing fillers",
  );
});

Deno.test("scored positions point at each value's tokens", () => {
  const encode = (s: string, first: boolean) => tokenizer.encode(s, first);
  const x = tokenizeExample(encode, renderExample(vocab, example, 4));
  assert.equal(x.tokens[0], tokenizer.bosId);
  assert.equal(x.perQuery.length, 4);
  assert.equal(x.positions.length, x.perQuery.reduce((a, b) => a + b, 0));
  x.positions.forEach((p, i) => assert.equal(x.tokens[p + 1], x.expected[i]));
  let at = 0;
  x.perQuery.forEach((n, q) => {
    assert.equal(tokenizer.decode(x.expected.slice(at, at + n)), ` ${x.answers[q]}`);
    at += n;
  });
});

Deno.test("mqar_text fills each cell's length, slices by pairs and length, and is deterministic", async () => {
  const ctx = context({ lengths: [256, 1024], kvPairs: [4, 16], limit: 3, wordsFile: null });
  const prepared = await mqarTextTask.prepare(ctx);
  assert.equal(prepared.length, 12);
  for (const p of prepared) {
    const { tokens } = p.requests[0] as TokenArgmaxRequest;
    const { length, numKvPairs } = p.doc;
    assert.deepEqual(p.slices, { numKvPairs, contextLen: length });
    assert.ok(tokens.length <= length && tokens.length > length - 16, `${tokens.length} near ${length}`);
    assert.ok(p.doc.seqLen >= 4 * numKvPairs && p.doc.seqLen % 2 === 0);
  }
  const again = await mqarTextTask.prepare(ctx);
  assert.deepEqual(again.map((p) => p.requests), prepared.map((p) => p.requests));
  const other = await mqarTextTask.prepare({ ...ctx, seed: 5 });
  assert.notDeepEqual(other.map((p) => p.requests), prepared.map((p) => p.requests));
});

Deno.test("mqar_text scores the fraction of queries whose every value token is predicted", async () => {
  const [p] = await mqarTextTask.prepare(context({ lengths: [256], kvPairs: [4], limit: 1 }));
  const { expected, perQuery } = p.doc;
  const right = { kind: "token_argmax" as const, predictions: [...expected] };
  assert.deepEqual(mqarTextTask.score(p, [right]), { acc: 1 });
  const wrong = [...expected];
  wrong[perQuery[0] - 1] = -1; // the last token of the first value
  assert.deepEqual(mqarTextTask.score(p, [{ kind: "token_argmax", predictions: wrong }]), { acc: 3 / 4 });
});

Deno.test("mqar_text refuses a cell asked for that is too short, and word lists too small", async () => {
  const tooShort = context({ lengths: [64, 1024], kvPairs: [16], limit: 1 });
  const expected =
    /Cannot build the mqar_text cell kv=16 × len=64 as its smallest example .* takes \d+ tokens/;
  await assert.rejects(() => mqarTextTask.check!(tooShort), expected);
  await assert.rejects(() => mqarTextTask.prepare(tooShort), expected);
  await assert.rejects(
    () => mqarTextTask.prepare(context({ lengths: [1024], kvPairs: [400], limit: 1 })),
    /400 kv pairs.*--words-file/,
  );
});

Deno.test("mqar_text leaves cells out of its default grid only with a note, and never all of them", async () => {
  // --lengths given, kv pairs from the default grid (8, 32, 128): the 128 pairs don't fit 1024 tokens.
  const ctx = context({ lengths: [1024], kvPairs: null, limit: 1 });
  const notes = await mqarTextTask.check!(ctx);
  assert.equal(notes.length, 1);
  assert.match(
    notes[0],
    /^leaves out kv=128 × len=1024 \(its smallest example .* takes \d+ tokens\) of its default grid/,
  );
  const prepared = await mqarTextTask.prepare(ctx);
  assert.deepEqual([...new Set(prepared.map((p) => p.doc.numKvPairs))], [8, 32]);
  // Lengths from the default grid (512, 2048, 8192) all above the max length: an error, not an empty task.
  await assert.rejects(
    () => mqarTextTask.check!(context({ lengths: null, kvPairs: [4], maxLength: 256 })),
    /Cannot run mqar_text as no cell of its grid can be built \(kv=4 × len=512: 512 tokens exceed the model's max length 256\)/,
  );
  await assert.rejects(
    () => mqarTextTask.check!(context({ lengths: [512], kvPairs: [4], maxLength: 256 })),
    /Cannot build the mqar_text cell kv=4 × len=512 as 512 tokens exceed the model's max length 256/,
  );
});

Deno.test("mqar_text runs end to end on the tiny model and stores accuracy per pairs × length", async () => {
  const bundle = await loadBundle(LLAMA);
  const store = await Store.open(":memory:");
  const { results } = await evaluate(bundle, store, {
    tasks: [mqarTextTask],
    synthetic: { lengths: [200, 256], kvPairs: [4, 8] },
    limit: 2,
    progress: false,
  });
  assert.deepEqual(cellKeys(results, "mqar_text"), [
    "acc@4/200/-",
    "acc@4/256/-",
    "acc@8/200/-",
    "acc@8/256/-",
  ]);
  for (const r of results) assert.ok(r.value >= 0 && r.value <= 1);
  store.close();
});
