/**
 * `deno task reproduce` and eval's lm-eval habits as a user runs them: child processes, exit codes.
 */

import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store } from "../results/store.ts";
import { evalMqar, ROOT, runScript } from "./_script.ts";

const llama = join(ROOT, "tests/fixtures/llama");

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "kvbench-test-"));
}

/** One MQAR cell of 16 examples, as the runs below store and reproduce it. */
const evalOne = (model: string, db: string) =>
  evalMqar(db, [model], { kvPairs: "4", lengths: "64", limit: "16" });

Deno.test("reproduce re-runs a stored run and finds every sample identical; exit 0", async () => {
  const db = join(tempDir(), "runs.duckdb");
  const first = await evalOne(llama, db);
  assert.equal(first.code, 0, first.stderr);
  const again = await runScript("reproduce", ["1", "--db", db]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^run 1 reproduced: all 16 samples identical/m);
});

Deno.test("reproduce lists the samples that came out differently; exit 1", async () => {
  const db = join(tempDir(), "runs.duckdb");
  assert.equal((await evalOne(llama, db)).code, 0);
  // Stand in for a run whose outputs drifted: the record no longer matches what the model gives.
  const store = await Store.open(db);
  await store.query(`UPDATE samples SET metrics = '{"acc":0.5}' WHERE doc_id IN (2, 3)`);
  store.close();
  const again = await runScript("reproduce", ["1", "--db", db]);
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stdout, /^run 1 did not reproduce: 2 of 16 samples differ$/m);
  assert.match(again.stdout, /^ {2}mqar doc 2 \(request [0-9a-f]+\): metrics \{"acc":0\.5\} → \{"acc":/m);
});

Deno.test("reproduce refuses in one line when the model file changed since the run; exit 2", async () => {
  const dir = tempDir();
  const model = join(dir, "llama");
  cpSync(llama, model, { recursive: true });
  const db = join(dir, "runs.duckdb");
  assert.equal((await evalOne(model, db)).code, 0);
  appendFileSync(join(model, "model.onnx"), new Uint8Array([1, 2, 3]));
  const again = await runScript("reproduce", ["1", "--db", db]);
  assert.equal(again.code, 2, again.stderr);
  assert.match(
    again.stderr,
    /^kvbench: Cannot reproduce run 1 \(tiny-llama\): the model in .*llama changed \(sha256 of model\.onnx and its external data is now [0-9a-f]{12}…, recorded [0-9a-f]{12}…\)/,
  );
  assert.equal(again.stderr.trim().split("\n").length, 1);
});

Deno.test("reproduce: an unknown run or a bad run id is one line; exit 2", async () => {
  const db = join(tempDir(), "runs.duckdb");
  assert.equal((await evalOne(llama, db)).code, 0);
  const unknown = await runScript("reproduce", ["9", "--db", db]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    /^kvbench: Cannot reproduce run 9: .* has no such run \(finished runs: 1\)\n$/,
  );
  const bad = await runScript("reproduce", ["--db", db]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^kvbench: reproduce takes one run id/);
});

Deno.test("eval --tasks list prints every task, group and suite; --version prints versions; exit 0", async () => {
  const list = await runScript("eval", ["--tasks", "list"]);
  assert.equal(list.code, 0, list.stderr);
  for (const name of ["mqar", "niah_single_1", "arc_easy", "mmlu_anatomy", "mmlu_stem", "xecomla-paper"]) {
    assert.match(list.stdout, new RegExp(`^ {2}${name} +\\S`, "m"), name);
  }
  const version = await runScript("eval", ["--version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.match(
    version.stdout,
    /^kvbench \d+\.\d+\.\d+ \(commit [0-9a-f]{40}(\+dirty)?\)\nONNX Runtime \d+\.\d+\.\d+\n/,
  );
});

Deno.test("eval refuses lm-eval generation settings that need sampling in one line; exit 2", async () => {
  const out = await runScript("eval", ["--tasks", "mqar", "--gen_kwargs", "temperature=0.8"]);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /^kvbench: Cannot run eval: --gen_kwargs temperature=0\.8 asks for sampling.*\n$/);
});
