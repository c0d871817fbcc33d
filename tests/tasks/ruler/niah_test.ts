import assert from "node:assert/strict";
import type { GenerateRequest } from "../../../core/requests.ts";
import { sampleRng } from "../../../tasks/ruler/_draw.ts";
import { NOISE } from "../../../tasks/ruler/_haystack.ts";
import { RULER_TASKS } from "../../../tasks/ruler/index.ts";
import { type NiahParams, niahSample, niahTemplate } from "../../../tasks/ruler/niah.ts";
import { context, haystackDir, tokenizer, wordsFile } from "./_fixtures.ts";

const one = { numNeedleK: 1, numNeedleV: 1, numNeedleQ: 1 };
const words = { words: ["apple", "river", "stone", "cloud", "amber", "tiger"] };
const essay = { essay: "The sky is blue. It rains a lot here. Boats go out at dawn.".split(" ") };
const prompt = (p: { requests: unknown[] }) => (p.requests[0] as GenerateRequest).context;
const count = (s: string, x: string) => s.split(x).length - 1;

Deno.test("niah's template is singular when one value is asked for, as RULER rewrites it", () => {
  const single = niahTemplate({
    typeHaystack: "noise",
    typeNeedleK: "words",
    typeNeedleV: "numbers",
    ...one,
  });
  assert.equal(single.typeNeedleV, "number");
  assert.ok(
    single.template.startsWith("A special magic {type_needle_v} is hidden within the following text."),
  );
  assert.ok(single.template.includes("What is the special magic {type_needle_v} for {query}"));
  assert.ok(
    single.template.endsWith(
      " The special magic {type_needle_v} for {query} mentioned in the provided text is",
    ),
  );
  const multi = niahTemplate({
    typeHaystack: "essay",
    typeNeedleK: "words",
    typeNeedleV: "numbers",
    ...one,
    numNeedleV: 4,
  });
  assert.ok(multi.template.startsWith("Some special magic {type_needle_v} are hidden"));
  assert.equal(multi.typeNeedleV, "numbers");
});

Deno.test("a noise niah sample hides one needle among n lines and asks for its key", () => {
  const params: NiahParams = { typeHaystack: "noise", typeNeedleK: "words", typeNeedleV: "numbers", ...one };
  const s = niahSample(params, words, 20, sampleRng("t", 1));
  assert.equal(s.outputs.length, 1);
  assert.match(s.outputs[0], /^[1-9]\d{6}$/);
  const needle = s.input.match(/One of the special magic numbers for (\w+-\w+) is: (\d{7})\./)!;
  assert.equal(needle[2], s.outputs[0], "the answer is recoverable from the input");
  assert.equal(count(s.input, "One of the special magic"), 1);
  assert.equal(count(s.input, NOISE), 20);
  assert.ok(
    s.input.includes(`What is the special magic number for ${needle[1]} mentioned in the provided text?`),
  );
  assert.ok(s.input.endsWith(`The special magic number for ${needle[1]} mentioned in the provided text is`));
});

Deno.test("multi-key, multi-value and multi-query samples hold every needle and ask for the right ones", () => {
  const base = { typeHaystack: "essay", typeNeedleK: "words", typeNeedleV: "numbers" } as const;
  const mk = niahSample({ ...base, ...one, numNeedleK: 4 }, { ...words, ...essay }, 12, sampleRng("mk"));
  assert.equal(count(mk.input, "One of the special magic numbers for"), 4);
  assert.equal(mk.outputs.length, 1);
  const mv = niahSample({ ...base, ...one, numNeedleV: 4 }, { ...words, ...essay }, 12, sampleRng("mv"));
  assert.equal(mv.outputs.length, 4);
  const key = mv.input.match(/for (\w+-\w+) is:/)![1];
  for (const v of mv.outputs) assert.ok(mv.input.includes(`for ${key} is: ${v}.`));
  const mq = niahSample({ ...base, ...one, numNeedleQ: 4 }, { ...words, ...essay }, 12, sampleRng("mq"));
  assert.equal(mq.outputs.length, 4);
  assert.match(mq.input, /for \w+-\w+, \w+-\w+, \w+-\w+, and \w+-\w+ mentioned/);
  assert.ok(mq.input.startsWith("Some special magic numbers are hidden"));
});

Deno.test("a needle haystack is made of distractor needles whose keys differ from the real one", () => {
  const params: NiahParams = { typeHaystack: "needle", typeNeedleK: "uuids", typeNeedleV: "uuids", ...one };
  const s = niahSample(params, {}, 30, sampleRng("needle"));
  const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/;
  assert.match(s.outputs[0], new RegExp(`^${uuid.source}$`));
  const lines = s.input.split("\n").filter((l) => l.startsWith("One of the special magic uuids"));
  assert.equal(lines.length, 31);
  const key = s.input.match(new RegExp(`What is the special magic uuid for (${uuid.source})`))![1];
  assert.equal(
    lines.filter((l) => l.includes(`for ${key} is`)).length,
    1,
    "only the real needle has the key",
  );
  assert.ok(lines.some((l) => l.endsWith(`is: ${s.outputs[0]}.`)));
});

Deno.test("RULER niah tasks fit each length within a few tokens, deterministically per seed", async () => {
  const dir = haystackDir();
  const ctx = context({ haystackDir: dir, wordsFile: wordsFile(), lengths: [1024, 2048], limit: 3 });
  for (const name of ["niah_single_1", "niah_single_2", "niah_multikey_1", "niah_multikey_2"]) {
    const task = RULER_TASKS[name];
    const prepared = await task.prepare(ctx);
    assert.equal(prepared.length, 6);
    for (const p of prepared) {
      const doc = p.doc as { length: number; outputs: string[]; tokens: number };
      const tokens = tokenizer.encode(prompt(p), true).length + 128;
      assert.equal(tokens, doc.tokens);
      assert.ok(tokens <= doc.length, `${name}: ${tokens} ≤ ${doc.length}`);
      // Units are words (a couple of tokens) or lines (~60 tokens of this tokenizer).
      const slack = name.endsWith("_1") && name.startsWith("niah_single") || name === "niah_multikey_2"
        ? 80
        : 8;
      assert.ok(tokens > doc.length - slack, `${name}: ${tokens} near ${doc.length}`);
      for (const o of doc.outputs) assert.ok(prompt(p).includes(`is: ${o}.`), "answer in the input");
      assert.deepEqual(p.slices, { contextLen: doc.length });
    }
    const again = await task.prepare(ctx);
    assert.deepEqual(again.map(prompt), prepared.map(prompt), `${name} is deterministic`);
    const other = await task.prepare({ ...ctx, seed: 99 });
    assert.notDeepEqual(other.map(prompt), prepared.map(prompt), `${name} changes with the seed`);
  }
});

Deno.test("essay niah tasks need --haystack-dir", async () => {
  await assert.rejects(() => RULER_TASKS.niah_single_2.prepare(context()), /--haystack-dir/);
});
