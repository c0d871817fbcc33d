import assert from "node:assert/strict";
import type { GenerateRequest } from "../../../core/requests.ts";
import { sampleRng } from "../../../tasks/ruler/_draw.ts";
import { cweList, cweSample, numbered } from "../../../tasks/ruler/common_words.ts";
import { fweMinWords, fweSample, fweVocabSize, zeta, zipfCounts } from "../../../tasks/ruler/freq_words.ts";
import { RULER_TASKS } from "../../../tasks/ruler/index.ts";
import { makeChains, randomizeExample, vtText } from "../../../tasks/ruler/variable_tracking.ts";
import { context, madeUpWords, tokenizer, wordsFile } from "./_fixtures.ts";

const prompt = (p: { requests: unknown[] }) => (p.requests[0] as GenerateRequest).context;

Deno.test("vt chains assign a value along hops of distinct five-letter names", () => {
  const { vars, chains } = makeChains(sampleRng("vt"), { numChains: 2, numHops: 4 }, false);
  assert.equal(vars.length, 2);
  assert.equal(new Set(vars.flat()).size, 10);
  assert.match(chains[0][0], /^VAR [A-Z]{5} = [1-9]\d{4}$/);
  assert.equal(chains[0][1], `VAR ${vars[0][1]} = VAR ${vars[0][0]} `);
  const icl = makeChains(sampleRng("vt"), { numChains: 1, numHops: 4 }, true);
  assert.match(icl.chains[0][0], /^VAR [A-Z]{3} = 12345$/);
});

Deno.test("a vt sample's answer is every variable of the chain, all in the input", () => {
  const s = vtText({ numChains: 1, numHops: 4 }, 12, sampleRng("vt", 2), false);
  const value = s.input.match(/assigned the value (\d{5}) in the text above/)![1];
  assert.ok(s.input.includes(`VAR ${s.outputs[0]} = ${value}\n`));
  for (let j = 1; j < 5; j++) assert.ok(s.input.includes(`VAR ${s.outputs[j]} = VAR ${s.outputs[j - 1]} \n`));
  assert.ok(s.input.endsWith(`5 variables are assigned the value ${value}, they are: `));
  const renamed = randomizeExample(
    "… VAR ABC = 12345 … VAR XYZ = VAR ABC … are: ABC XYZ\n",
    1,
    sampleRng("r"),
  );
  assert.ok(!renamed.includes("ABC") && !renamed.includes("XYZ") && !renamed.includes("12345"));
  assert.match(renamed, /VAR ([A-Z]{3}) = (\d{5}) … VAR ([A-Z]{3}) = VAR \1 … are: \1 \3\n/);
});

Deno.test("cwe repeats the ten common words 30 times and the rest 3 times (6/1 below 4096)", () => {
  const words = madeUpWords(500);
  const list = cweList(sampleRng("cwe"), words, 50, 30, 3, 10);
  const entries = list.context.split(/ ?\d+\. /).filter(Boolean);
  assert.equal(entries.length, 10 * 30 + 40 * 3);
  for (const w of list.answer) assert.equal(entries.filter((e) => e === w).length, 30);
  assert.equal(numbered(["a", "b"]), "1. a 2. b");
  const short = cweSample(
    { freqCw: 30, freqUcw: 3, numCw: 10, numFewshot: 1 },
    words,
    30,
    2048,
    sampleRng("c"),
  );
  const [shot, main] = short.input.split("\nBelow is a numbered list");
  assert.ok(shot.startsWith("Below is a numbered list"));
  assert.match(shot, /are: 1\. \w+ 2\. \w+ .* 10\. \w+$/, "the worked example ends with its answer");
  assert.equal(main.match(/\b\d+\. [a-z]+/g)!.length, 10 * 6 + 20 * 1);
  assert.ok(short.input.endsWith("Answer: The top 10 words that appear most often in the list are:"));
});

Deno.test("fwe draws Zipf counts: ζ(2) = π²/6, '...' first, the answer is ranks 2–4", () => {
  assert.ok(Math.abs(zeta(2) - Math.PI ** 2 / 6) < 1e-12);
  assert.ok(Math.abs(zeta(3) - 1.2020569031595942) < 1e-12);
  assert.deepEqual(zipfCounts(1000, 5, 2), [607, 151, 67, 37, 24]);
  assert.equal(fweVocabSize(4096), 80);
  assert.equal(fweMinWords(2), 27);
  const s = fweSample({ alpha: 2, codedWordLen: 6 }, 1000, 80, sampleRng("fwe"));
  const text = s.input.split("coded words. ")[1].split("\nQuestion:")[0].split(" ");
  const freq = (w: string) => text.filter((x) => x === w).length;
  assert.equal(freq("..."), 607);
  assert.deepEqual(s.outputs.map(freq), [151, 67, 37]);
  for (const w of s.outputs) assert.match(w, /^[a-z]{6}$/);
});

Deno.test("vt, cwe and fwe fit their lengths and answer from the input, per seed", async () => {
  const ctx = context({ wordsFile: wordsFile(), lengths: [2048], limit: 2 });
  for (const name of ["vt", "cwe", "fwe"]) {
    const prepared = await RULER_TASKS[name].prepare(ctx);
    assert.equal(prepared.length, 2);
    for (const p of prepared) {
      const doc = p.doc as { length: number; outputs: string[]; tokens: number };
      const gen = (p.requests[0] as GenerateRequest).maxGenToks;
      const tokens = tokenizer.encode(prompt(p), true).length + gen;
      assert.equal(tokens, doc.tokens);
      assert.ok(tokens <= 2048 && tokens > 2048 - 80, `${name}: ${tokens}`);
      for (const o of doc.outputs) assert.ok(prompt(p).includes(o), `${name}: ${o} is in the input`);
    }
    const again = await RULER_TASKS[name].prepare(ctx);
    assert.deepEqual(again.map(prompt), prepared.map(prompt));
    const other = await RULER_TASKS[name].prepare({ ...ctx, seed: 7 });
    assert.notDeepEqual(other.map(prompt), prepared.map(prompt));
  }
});

Deno.test("a length too short for a task's smallest input is a user error naming the minimum", async () => {
  await assert.rejects(
    () => RULER_TASKS.vt.prepare(context({ lengths: [256] })),
    /Cannot fit vt into 256 tokens: its smallest input takes \d+ tokens/,
  );
  await assert.rejects(
    () => RULER_TASKS.cwe.prepare(context({ lengths: [2048], wordsFile: wordsFile(45) })),
    /needs 46 distinct words .* --words-file/,
  );
});

Deno.test("a RULER task's check finds, before any model runs, what its prepare would fail on", async () => {
  await assert.rejects(
    () => RULER_TASKS.vt.check!(context({ lengths: [256] })),
    /Cannot fit vt into 256 tokens: its smallest input takes \d+ tokens/,
  );
  await assert.rejects(
    () => RULER_TASKS.cwe.check!(context({ lengths: [2048], wordsFile: wordsFile(45) })),
    /needs 46 distinct words .* --words-file/,
  );
  await assert.rejects(
    () => RULER_TASKS.fwe.check!(context({ lengths: [1024, 8192], maxLength: 4096 })),
    /Cannot run fwe at length 8192 as the model's max length is 4096/,
  );
  // RULER's default lengths (4K–128K) above the max length are left out, and said so.
  assert.deepEqual(await RULER_TASKS.fwe.check!(context({ lengths: null, maxLength: 8192 })), [
    "leaves out the default lengths 16384, 32768, 65536, 131072 (above the max length 8192)",
  ]);
});
