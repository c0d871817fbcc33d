import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compareNightlies, evalArgv, readNightlyConfig } from "../evals/nightly.ts";
import { Store } from "../results/store.ts";
import { runScript } from "./_script.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

Deno.test("compareNightlies() flags a drop beyond twice the stderr and a 10% throughput loss", () => {
  const score = (value: number, stderr: number | null, higher = true) => ({
    model: "m",
    task: "t",
    metric: "acc",
    value,
    stderr,
    higher,
  });
  const speed = (tokens_per_s: number, seconds = 60) => ({ model: "m", task: "t", tokens_per_s, seconds });
  const within = compareNightlies({ scores: [score(0.5, 0.02)], speeds: [speed(100)] }, {
    scores: [score(0.47, 0.02)],
    speeds: [speed(95)],
  });
  assert.deepEqual(within.map((m) => m.regression), [false, false]);
  const beyond = compareNightlies({ scores: [score(0.5, 0.02)], speeds: [speed(100)] }, {
    scores: [score(0.45, 0.02)],
    speeds: [speed(85)],
  });
  assert.deepEqual(beyond.map((m) => m.regression), [true, true]);
  const tooShort = compareNightlies({ scores: [], speeds: [speed(100, 0.2)] }, {
    scores: [],
    speeds: [speed(50, 0.2)],
  });
  assert.deepEqual(tooShort, [], "sub-second timings are not gated");
  const lowerIsBetter = compareNightlies({ scores: [score(10, 0.1, false)], speeds: [] }, {
    scores: [score(10.5, 0.1, false)],
    speeds: [],
  });
  assert.equal(lowerIsBetter[0].regression, true, "a perplexity going up is a regression");
  const improved = compareNightlies({ scores: [score(0.5, 0.02)], speeds: [] }, {
    scores: [score(0.6, 0.02)],
    speeds: [],
  });
  assert.equal(improved[0].regression, false);
});

function nightly(config: string, db: string) {
  return runScript("nightly", ["--config", config, "--db", db]);
}

/** A nightly config: the tiny llama on one small MQAR cell, on CPU. */
function writeTinyNightly(config: string): void {
  writeFileSync(
    config,
    JSON.stringify({
      device: "cpu",
      matrix: [{
        models: [join(root, "tests/fixtures/llama")],
        tasks: "mqar",
        limit: 20,
        lengths: [64],
        kvPairs: [4],
      }],
    }),
  );
}

Deno.test("deno task nightly passes on an unchanged model and fails on a score drop", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-nightly-"));
  const config = join(dir, "nightly.json");
  const db = join(dir, "nightly.duckdb");
  writeTinyNightly(config);
  const first = await nightly(config, db);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /first nightly/);
  const second = await nightly(config, db);
  assert.equal(second.code, 0, second.stderr);
  assert.doesNotMatch(second.stdout, /REGRESSION/);

  // Pretend the previous nightly scored much higher: the next one must be flagged.
  const store = await Store.open(db);
  await store.query(
    `UPDATE results SET value = value + 0.5 WHERE run_id IN (SELECT run_id FROM nightly_runs WHERE nightly_id = 2)`,
  );
  store.close();
  const third = await nightly(config, db);
  assert.equal(third.code, 1, third.stdout + third.stderr);
  assert.match(third.stdout, /REGRESSION\s+tiny-llama\s+mqar\/acc/);
  const check = await Store.open(db, { readOnly: true });
  const statuses = await check.query("SELECT id, status FROM nightlies ORDER BY id");
  check.close();
  assert.deepEqual(statuses.map((s) => s.status), ["done", "done", "regressed"]);
});

Deno.test("a nightly config's device and switches are checked, said in one line", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/nightly.json`;
  Deno.writeTextFileSync(
    path,
    JSON.stringify({ device: "webgpu", tf32: "yes", matrix: [{ models: ["m"], tasks: "mqar" }] }),
  );
  assert.throws(
    () => readNightlyConfig(path),
    /Cannot use nightly config .*: "device" must be cpu or cuda; "tf32" must be true or false/,
  );
  Deno.writeTextFileSync(
    path,
    JSON.stringify({ device: "cpu", tf32: false, matrix: [{ models: ["m"], tasks: "mqar" }] }),
  );
  assert.equal(readNightlyConfig(path).tf32, false);
});

Deno.test("a nightly entry is checked as eval's flags are, in one line naming the entry", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-nightly-"));
  const config = join(dir, "nightly.json");
  writeFileSync(
    config,
    JSON.stringify({ device: "cpu", matrix: [{ models: ["m"], tasks: "mqar", batchSize: 0 }] }),
  );
  const r = await runScript("nightly", ["--config", config, "--db", join(dir, "n.duckdb")]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /Cannot use nightly config .*: matrix\[0\]: --batch-size must be an integer ≥ 1 \(got "0"\)/,
  );
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
});

Deno.test("a nightly entry's cache policy is eval's --cache-policy: checked, and its runs filed under it", async () => {
  const entry = { models: ["m"], tasks: "mqar", cachePolicy: "xkv:group=2,rank_k=4,rank_v=4" };
  assert.deepEqual(evalArgv(entry, { device: "cpu", matrix: [entry] }).slice(-2), [
    "--cache-policy",
    "xkv:group=2,rank_k=4,rank_v=4",
  ]);
  const dir = mkdtempSync(join(tmpdir(), "kvbench-nightly-"));
  const config = join(dir, "nightly.json");
  writeFileSync(
    config,
    JSON.stringify({ device: "cpu", matrix: [{ models: ["m"], tasks: "mqar", cachePolicy: "xkv:rank=4" }] }),
  );
  const r = await runScript("nightly", ["--config", config, "--db", join(dir, "n.duckdb")]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /matrix\[0\]: Cannot use --cache-policy xkv:rank=4/);
});

Deno.test("a nightly spread over shards merges into one nightly with the unsharded scores, and compares", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-nightly-"));
  const config = join(dir, "nightly.json");
  writeTinyNightly(config);
  const whole = join(dir, "whole.duckdb");
  assert.equal((await nightly(config, whole)).code, 0);
  const shards = [0, 1].map((i) => join(dir, `shard-${i}.duckdb`));
  for (const [i, db] of shards.entries()) {
    const r = await runScript("nightly", ["--config", config, "--db", db, "--shard", `${i}/2`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`nightly shard ${i}/2 done`));
  }
  // The merged nightly is compared with the previous one in its database: here the unsharded one.
  const merged = await runScript("nightly", ["--config", config, "--db", whole, "--merge", ...shards]);
  assert.equal(merged.code, 0, merged.stderr);
  assert.match(merged.stdout, /nightly 2 against nightly 1/);
  assert.match(merged.stdout, /nothing moved|moved/);
  assert.doesNotMatch(merged.stdout, /REGRESSION.*mqar/);
  const store = await Store.open(whole, { readOnly: true });
  const scores = await store.query(
    `SELECT n.nightly_id, r.value, r.n FROM results r JOIN nightly_runs n ON n.run_id = r.run_id
     WHERE r.task = 'mqar' AND r.metric = 'acc' AND r.context_len IS NULL ORDER BY n.nightly_id`,
  );
  store.close();
  assert.equal(scores.length, 2);
  assert.deepEqual(scores[1].value, scores[0].value, "the merged nightly scores what the unsharded one did");
  assert.equal(scores[1].n, scores[0].n);
});
