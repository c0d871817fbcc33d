import assert from "node:assert/strict";
import { mqar, mqarTask } from "../../tasks/mqar.ts";
import { syntheticOptions, type TaskContext } from "../../core/tasks.ts";

const config = { vocabSize: 512, seqLen: 64, numKvPairs: 8, numExamples: 20, seed: 7 };

Deno.test("mqar() is deterministic for a seed and differs across seeds", () => {
  assert.deepEqual(mqar(config), mqar(config));
  assert.notDeepEqual(mqar(config)[0].tokens, mqar({ ...config, seed: 8 })[0].tokens);
});

Deno.test("mqar() lays out keys, values and queries as zoology does", () => {
  for (const ex of mqar(config)) {
    assert.equal(ex.tokens.length, 64);
    const keys = ex.tokens.filter((_, i) => i < 16 && i % 2 === 0);
    const values = ex.tokens.filter((_, i) => i < 16 && i % 2 === 1);
    assert.equal(new Set(keys).size, 8);
    assert.equal(new Set(values).size, 8);
    for (const k of keys) assert.ok(k >= 1 && k < 256);
    for (const v of values) assert.ok(v >= 256 && v < 512);
    ex.positions.forEach((p, i) => {
      assert.ok(p >= 16 && (p - 16) % 2 === 0, "queries sit at even offsets of the query region");
      assert.equal(ex.tokens[p], keys[i], "each key is queried at its position");
      assert.equal(ex.values[i], values[i], "the expected answer is the key's value");
    });
    assert.equal(new Set(ex.positions).size, 8);
    for (const t of ex.tokens) assert.ok(t >= 0 && t < 512);
  }
});

Deno.test("mqar() favours short gaps (power law)", () => {
  const examples = mqar({ ...config, seqLen: 256, numKvPairs: 4, numExamples: 200 });
  const gaps = examples.flatMap((e) => e.positions.map((p) => (p - 8) / 2));
  const early = gaps.filter((g) => g < 31).length;
  assert.ok(early > gaps.length * 0.3, `${early} of ${gaps.length} gaps in the first quarter`);
});

Deno.test("mqar() refuses a grid cell that cannot fit its queries", () => {
  assert.throws(() => mqar({ ...config, seqLen: 16, numKvPairs: 8 }), /need at least 32/);
});

Deno.test("mqarTask scores the fraction of recalled values per example", async () => {
  const ctx: TaskContext = {
    numFewshot: null,
    seed: 1,
    limit: 3,
    vocabSize: 512,
    maxLength: 256,
    ...syntheticOptions({ lengths: [64], kvPairs: [4, 8] }),
  };
  const prepared = await mqarTask.prepare(ctx);
  assert.equal(prepared.length, 6);
  assert.deepEqual(prepared.map((p) => p.slices?.numKvPairs), [4, 4, 4, 8, 8, 8]);
  const p = prepared[0];
  const half = p.doc.example.values.map((v, i) => (i % 2 === 0 ? v : -1));
  assert.deepEqual(mqarTask.score(p, [{ kind: "token_argmax", predictions: half }]), { acc: 0.5 });
});

Deno.test("mqar() generates exactly what the Python port (scripts/families/mqar.py) generates", async () => {
  const { createHash } = await import("node:crypto");
  const { seedFrom } = await import("../../core/random.ts");
  const vectors = JSON.parse(
    Deno.readTextFileSync(new URL("../data/mqar_vectors.json", import.meta.url)),
  ) as {
    vocab_size: number;
    seq_len: number;
    num_kv_pairs: number;
    seed: number;
    cell_seed: number;
    sha256: string;
  }[];
  for (const v of vectors) {
    const seed = seedFrom(`mqar:${v.vocab_size}:${v.seq_len}:${v.num_kv_pairs}:${v.seed}`);
    assert.equal(seed, v.cell_seed);
    const examples = mqar({
      vocabSize: v.vocab_size,
      seqLen: v.seq_len,
      numKvPairs: v.num_kv_pairs,
      numExamples: 5,
      seed,
    });
    const json = JSON.stringify(examples.map((e) => [e.tokens, e.positions, e.values]));
    assert.equal(createHash("sha256").update(json).digest("hex"), v.sha256);
  }
});

const sweep = (over: Partial<TaskContext>): TaskContext => ({
  numFewshot: null,
  seed: 1,
  limit: 2,
  vocabSize: 512,
  maxLength: 256,
  ...syntheticOptions(),
  ...over,
});

Deno.test("mqarTask refuses a cell asked for that cannot be built, before and at prepare", async () => {
  const cases: [Partial<TaskContext>, RegExp][] = [
    [
      { kvPairs: [64], lengths: [64] },
      /cell kv=64 × len=64 as 64 pairs and their queries need at least 256 tokens/,
    ],
    [
      { kvPairs: [4], lengths: [64, 512] },
      /cell kv=4 × len=512 as 512 tokens exceed the model's max length 256/,
    ],
    [{ kvPairs: [4], lengths: [65] }, /cell kv=4 × len=65 as MQAR lengths must be even/],
    [
      { kvPairs: [4], lengths: [64], vocabSize: 8 },
      /4 distinct keys do not fit the 8-token vocabulary: pass --kv-pairs up to 3/,
    ],
    // A length above the max length is an error whenever --lengths gave it.
    [{ kvPairs: null, lengths: [512] }, /cell kv=4 × len=512 as 512 tokens exceed/],
  ];
  for (const [over, expected] of cases) {
    await assert.rejects(() => mqarTask.check!(sweep(over)), expected);
    await assert.rejects(() => mqarTask.prepare(sweep(over)), expected);
  }
});

Deno.test("mqarTask leaves cells out of a default grid with a note, and refuses an empty grid", async () => {
  // Default lengths (64, 128) with --kv-pairs 32: 32 pairs need 128 tokens.
  assert.deepEqual(await mqarTask.check!(sweep({ kvPairs: [32] })), [
    "leaves out kv=32 × len=64 (32 pairs and their queries need at least 128 tokens) of its default grid; " +
    "pass --kv-pairs and --lengths to choose the cells",
  ]);
  const prepared = await mqarTask.prepare(sweep({ kvPairs: [32] }));
  assert.deepEqual([...new Set(prepared.map((p) => p.slices?.contextLen))], [128]);
  // A model shorter than every default length: an error up front, not a NaN score.
  await assert.rejects(
    () => mqarTask.check!(sweep({ maxLength: 32 })),
    /Cannot run mqar as no cell of its grid can be built \(kv=4 × len=64: 64 tokens exceed the model's max length 32\)/,
  );
});

Deno.test("mqarTask takes a fractional --limit as that share of its default examples per cell", async () => {
  const prepared = await mqarTask.prepare(sweep({ kvPairs: [4], lengths: [64], limit: 0.1 }));
  assert.equal(prepared.length, 10);
  assert.equal((await mqarTask.prepare(sweep({ kvPairs: [4], lengths: [64], limit: 0.001 }))).length, 1);
});
