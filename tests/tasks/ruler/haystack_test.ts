import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  essayWords,
  insertAtDepths,
  insertAtLines,
  loadEssays,
  RULER_DEPTHS,
  sentenceEnds,
  splitSentences,
  takeWords,
} from "../../../tasks/ruler/_haystack.ts";
import { readWords, vocabularyWords, wordList } from "../../../tasks/ruler/_words.ts";
import { context, tokenizer } from "./_fixtures.ts";

Deno.test("loadEssays concatenates .txt and {text} .json files in name order", () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-essays-"));
  writeFileSync(join(dir, "b.txt"), "Second file.");
  writeFileSync(join(dir, "a.json"), JSON.stringify({ text: "First file. " }));
  writeFileSync(join(dir, "c.md"), "ignored");
  assert.equal(loadEssays(dir, "t"), "First file. Second file.");
  assert.throws(() => loadEssays(null, "niah_single_2"), /niah_single_2 .*--haystack-dir/);
  assert.throws(() => loadEssays(join(dir, "nope"), "t"), /is not a folder/);
  const empty = mkdtempSync(join(tmpdir(), "kvbench-essays-"));
  assert.throws(() => loadEssays(empty, "t"), /no \.txt or \.json files/);
});

Deno.test("essay words split on runs of whitespace; takeWords cycles when short", () => {
  assert.deepEqual(essayWords("a  b\n\tc"), ["a", "b", "c"]);
  assert.deepEqual(takeWords(["a", "b", "c"], 2), ["a", "b"]);
  assert.deepEqual(takeWords(["a", "b", "c"], 7), ["a", "b", "c", "a", "b", "c", "a"]);
});

Deno.test("sentences end after . ! ? (and closing quotes) before a non-lowercase start", () => {
  const text = 'It rained. "Why?" she asked. Then e.g. more came! 3 boats left.';
  assert.deepEqual(splitSentences(text), [
    "It rained.",
    '"Why?" she asked.',
    "Then e.g. more came!",
    "3 boats left.",
  ]);
  assert.deepEqual(sentenceEnds("One. Two."), [4]);
});

Deno.test("RULER's depth grid is round(linspace(0, 100, 40))", () => {
  assert.equal(RULER_DEPTHS.length, 40);
  assert.deepEqual(RULER_DEPTHS.slice(0, 5), [0, 3, 5, 8, 10]);
  assert.equal(RULER_DEPTHS[39], 100);
});

Deno.test("insertAtDepths puts needles before sentence ⌊n·depth/100⌋, in depth order", () => {
  const s = ["s0", "s1", "s2", "s3"];
  assert.equal(insertAtDepths(s, ["N1", "N2"], [50, 0]), " N1 s0 s1 N2 s2 s3");
  assert.equal(insertAtDepths(s, ["N"], [100]), "s0 s1 s2 s3 N ");
});

Deno.test("insertAtLines inserts each item before its original line", () => {
  assert.deepEqual(insertAtLines(["a", "b", "c"], ["X", "Y"], [0, 2]), ["X", "a", "b", "Y", "c"]);
  assert.deepEqual(insertAtLines(["a", "b"], ["X", "Y"], [1, 0]), ["Y", "a", "X", "b"]);
});

Deno.test("words come from a file, else from the vocabulary's plain lowercase tokens", () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-words-"));
  writeFileSync(join(dir, "w.txt"), "apple\n\n  pear \napple\nplum\n");
  assert.deepEqual(readWords(join(dir, "w.txt")), ["apple", "pear", "plum"]);
  const vocab = vocabularyWords(tokenizer, 512);
  assert.ok(vocab.length > 100, `${vocab.length} vocabulary words`);
  assert.ok(vocab.every((w) => /^[a-z]{3,}$/.test(w)));
  assert.ok(vocab.includes("model") && vocab.includes("river"));
  assert.deepEqual(wordList(context(), "t").words, vocab, "deterministic, in id order");
  assert.equal(wordList(context({ wordsFile: join(dir, "w.txt") }), "t").source, join(dir, "w.txt"));
});
