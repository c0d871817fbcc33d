import assert from "node:assert/strict";
import { aggregate } from "../../../evals/metrics.ts";
import {
  wikitext,
  wikitextBytes,
  wikitextDetokenize,
  wikitextWords,
} from "../../../tasks/lm_harness/wikitext.ts";
import type { SampleValue } from "../../../core/tasks.ts";
import { offlineCtx, rolling, tempDir, writeParquet } from "../_fixtures.ts";

const PAGE =
  ' = Río Verde = \n \n The river is 1 @,@ 200 km long ( about 750 mi ) . It is a well @-@ known " green " river , ' +
  "and its mouth lies at 3 @.@ 5 ° N . \n \n = = History = = \n \n The Smiths ' boats sailed it in the 1800s ; N boats remain . \n";

Deno.test("wikitextDetokenize() undoes WikiText's tokenization as lm-eval's detokenizer does", () => {
  assert.equal(
    wikitextDetokenize(PAGE),
    ' = Río Verde =\n\nThe river is 1,200 km long (about 750 mi). It is a well-known "green" river, ' +
      "and its mouth lies at 3.5°N.\n\n== History ==\n\nThe Smiths' boats sailed it in the 1800s; 1 boats remain.\n",
  );
});

Deno.test("wikitext counts words and UTF-8 bytes on the original page", () => {
  assert.equal(wikitextWords(PAGE), 61);
  assert.equal(wikitextBytes(PAGE), new TextEncoder().encode(PAGE).length);
  assert.equal(wikitextBytes("Río °"), 7);
  // Leading whitespace gives an empty first word, as re.split does.
  assert.equal(wikitextWords(" a b"), 3);
});

Deno.test("wikitext makes one rolling request per page and weighted perplexities from [ll, count] pairs", async () => {
  const dir = tempDir();
  const pages = [{ page: PAGE }, { page: "A short page . \n" }];
  await writeParquet(
    dir,
    "EleutherAI/wikitext_document_level",
    "wikitext-2-raw-v1/wikitext-2-raw-v1-test.parquet",
    pages,
  );
  const prepared = await wikitext.prepare(offlineCtx(dir));
  assert.deepEqual(prepared[1].requests, [{ kind: "loglikelihood_rolling", text: "A short page.\n" }]);
  const a = wikitext.score(prepared[0], [rolling(-100)]);
  const b: Record<string, SampleValue> = wikitext.score(prepared[1], [rolling(-8)]);
  assert.deepEqual({ ...b }, {
    word_perplexity: [-8, 5],
    byte_perplexity: [-8, 16],
    bits_per_byte: [-8, 16],
  });
  const bytes = wikitextBytes(PAGE) + 16;
  assert.equal(
    aggregate([a.word_perplexity, b.word_perplexity], "weighted_perplexity").value,
    Math.exp(108 / 66),
  );
  assert.equal(
    aggregate([a.byte_perplexity, b.byte_perplexity], "weighted_perplexity").value,
    Math.exp(108 / bytes),
  );
  assert.equal(aggregate([a.bits_per_byte, b.bits_per_byte], "bits_per_byte").value, 108 / bytes / Math.LN2);
});

Deno.test("wikitext takes a fractional --limit as lm-eval does: ceil(docs × limit)", async () => {
  const dir = tempDir();
  const pages = Array.from({ length: 7 }, (_, i) => ({ page: `Page ${i} . \n` }));
  await writeParquet(
    dir,
    "EleutherAI/wikitext_document_level",
    "wikitext-2-raw-v1/wikitext-2-raw-v1-test.parquet",
    pages,
  );
  assert.equal((await wikitext.prepare(offlineCtx(dir, { limit: 0.3 }))).length, 3);
  assert.equal((await wikitext.prepare(offlineCtx(dir, { limit: 0.01 }))).length, 1);
  assert.equal((await wikitext.prepare(offlineCtx(dir, { limit: 5 }))).length, 5);
});

Deno.test("with downloads off, wikitext's check names a missing file before any model runs", async () => {
  const dir = tempDir();
  await assert.rejects(
    () => wikitext.check!(offlineCtx(dir)),
    /Cannot load wikitext \(EleutherAI\/wikitext_document_level, split test\) as .*wikitext-2-raw-v1-test\.parquet is missing and downloads are off/,
  );
  await writeParquet(
    dir,
    "EleutherAI/wikitext_document_level",
    "wikitext-2-raw-v1/wikitext-2-raw-v1-test.parquet",
    [{ page: "A page . \n" }],
  );
  assert.deepEqual(await wikitext.check!(offlineCtx(dir)), []);
});
