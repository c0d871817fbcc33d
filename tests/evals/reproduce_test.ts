import { syntheticOptions } from "../../core/tasks.ts";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../core/errors.ts";
import { hashModelFiles } from "../../evals/model/bundle.ts";
import { TextTokenizer } from "../../evals/model/tokenizer.ts";
import {
  changesSince,
  compareSamples,
  parseReproduceArgs,
  type RecordedRun,
  reproductionArgs,
  type SampleResult,
} from "../../evals/reproduce.ts";

const llama = fileURLToPath(new URL("../fixtures/llama", import.meta.url));

function recorded(dataFile: { localPath: string; sha256: string }): RecordedRun {
  return {
    id: 3,
    modelName: "tiny-llama",
    modelDir: llama,
    modelSha256: hashModelFiles(llama),
    tokenizerSha256: TextTokenizer.load(llama).sha256,
    args: { tasks: "arc_easy", limit: 0.5, numFewshot: 2, seed: 7, model: "rel/path", feeding: "chunked" },
    dataFiles: [{ repo: "allenai/ai2_arc", path: "ARC-Easy/test.parquet", member: null, ...dataFile }],
  };
}

Deno.test("changesSince() names a data file whose sha256 differs from the record, or that is gone", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-test-"));
  const file = join(dir, "test.parquet");
  writeFileSync(file, "rows");
  const sha = "e8a4f2d3a6d9b8b3c6c0e0f6b1b6e2c1b0b4d2e3c7a1d0f6e9b2c3d4e5f6a7b8";
  const [changed] = await changesSince(recorded({ localPath: file, sha256: sha }));
  assert.match(changed, /^data file allenai\/ai2_arc\/ARC-Easy\/test\.parquet at .* changed \(sha256 now/);
  assert.match(changed, /recorded e8a4f2d3a6d9…\)$/);
  const [gone] = await changesSince(recorded({ localPath: join(dir, "nope"), sha256: sha }));
  assert.match(gone, /is gone from .*nope$/);
});

Deno.test("changesSince() is empty when the model, tokenizer and data are as recorded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-test-"));
  const file = join(dir, "test.parquet");
  writeFileSync(file, "rows");
  const real = createHash("sha256").update("rows").digest("hex");
  assert.deepEqual(await changesSince(recorded({ localPath: file, sha256: real })), []);
});

Deno.test("reproductionArgs() keeps the recorded options and writes only the fresh database", () => {
  const args = reproductionArgs(recorded({ localPath: "x", sha256: "y" }), "/tmp/r.duckdb");
  assert.deepEqual(args.models, [llama]);
  assert.equal(args.tasks, "arc_easy");
  assert.equal(args.limit, 0.5);
  assert.equal(args.numFewshot, 2);
  assert.equal(args.seed, 7);
  assert.equal(args.db, "/tmp/r.duckdb");
  assert.equal(args.fresh, true);
  assert.equal(args.outputPath, null);
  assert.equal(args.report, false);
  // An option the record predates keeps its default.
  assert.equal(args.batchSize, 8);
  assert.ok(!("feeding" in args) && !("model" in args));
});

Deno.test("reproductionArgs() reads the synthetic options as grouped now and as older runs recorded them", () => {
  const base = recorded({ localPath: "x", sha256: "y" });
  const grouped = reproductionArgs(
    { ...base, args: { ...base.args, synthetic: { ...syntheticOptions(), lengths: [64], kvPairs: [4] } } },
    "/tmp/r.duckdb",
  );
  assert.deepEqual(grouped.synthetic, syntheticOptions({ lengths: [64], kvPairs: [4] }));
  const older = reproductionArgs(
    { ...base, args: { ...base.args, lengths: [128], depths: [0, 50], haystackDir: "/h" } },
    "/tmp/r.duckdb",
  );
  assert.deepEqual(older.synthetic, syntheticOptions({ lengths: [128], depths: [0, 50], haystackDir: "/h" }));
  assert.ok(!("lengths" in older), "the old top-level key is not carried over");
});

Deno.test("compareSamples() matches by task, doc id and request hash and names every difference", () => {
  const s = (docId: number, outputs: unknown, metrics: unknown, task = "mqar"): SampleResult => ({
    task,
    docId,
    requestHash: `h${docId}`,
    outputs,
    metrics,
  });
  const before = [s(0, [1], { acc: 1 }), s(1, [2], { acc: 0 }), s(2, [3], { acc: 1 }), s(3, [4], { acc: 1 })];
  assert.deepEqual(compareSamples(before, [...before].reverse()), []);
  const after = [s(0, [1], { acc: 1 }), s(1, [9], { acc: 0 }), s(2, [3], { acc: 0 }), s(4, [5], { acc: 1 })];
  assert.deepEqual(
    compareSamples(before, after).map((d) => [d.docId, d.what]),
    [[1, "outputs"], [2, "metrics"], [3, "missing"], [4, "extra"]],
  );
  // The same doc id under another task is another sample.
  assert.equal(compareSamples([s(0, [1], {}, "a")], [s(0, [1], {}, "b")]).length, 2);
  // A record from before responses counted their tokens reproduces on its text; a text that
  // differs, or a field the record has and the run lacks, still shows.
  const generated = (
    text: string,
    tokens?: number,
  ) => [{ kind: "generate_until", text, ...(tokens ? { tokens } : {}) }];
  assert.deepEqual(compareSamples([s(0, generated("a"), {})], [s(0, generated("a", 3), {})]), []);
  assert.equal(compareSamples([s(0, generated("a"), {})], [s(0, generated("b", 3), {})]).length, 1);
  assert.equal(compareSamples([s(0, generated("a", 3), {})], [s(0, generated("a"), {})]).length, 1);
  assert.equal(compareSamples([s(0, generated("a", 3), {})], [s(0, generated("a", 4), {})]).length, 1);
});

Deno.test("parseReproduceArgs() takes one run id and --db", () => {
  assert.deepEqual(parseReproduceArgs(["4", "--db", "x.duckdb"]), { runId: 4, db: "x.duckdb", help: false });
  assert.equal(parseReproduceArgs(["--help"]).help, true);
  for (const bad of [[], ["0"], ["a"], ["1", "2"], ["1", "--bogus"]]) {
    assert.throws(() => parseReproduceArgs(bad), (e) => e instanceof UserError, bad.join(" "));
  }
});
