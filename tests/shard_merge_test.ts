/**
 * One evaluation run whole and as three shards (from --shard, from a Kubernetes index and from a
 * Slurm array index), merged: the same samples and the same aggregates. A shard killed midway is
 * named by the merge, rerun alone, and then merges.
 */

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Store } from "../results/store.ts";
import { runScript } from "./_script.ts";
import { writeParquet } from "./tasks/_fixtures.ts";

const llama = fileURLToPath(new URL("fixtures/llama", import.meta.url));

async function rows(db: string, sql: string): Promise<Record<string, unknown>[]> {
  const store = await Store.open(db, { readOnly: true });
  try {
    return await store.query(sql);
  } finally {
    store.close();
  }
}

const SAMPLES = `SELECT task, doc_id, request_hash, outputs, metrics, num_kv_pairs, context_len
  FROM samples WHERE run_id = (SELECT max(id) FROM runs WHERE status = 'done')
  ORDER BY task, num_kv_pairs, context_len, doc_id`;
const RESULTS = `SELECT task, metric, value, stderr, n, num_kv_pairs, context_len, is_primary
  FROM results WHERE run_id = (SELECT max(id) FROM runs WHERE status = 'done')
  ORDER BY task, metric, num_kv_pairs, context_len`;

Deno.test("three shards merge into the unsharded run, sample for sample and in every aggregate", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-shards-"));
  const data = join(dir, "data");
  await writeParquet(
    data,
    "baber/piqa",
    "piqa_validation.parquet",
    Array.from({ length: 7 }, (_, i) => ({
      goal: `Goal number ${i} needs ${"a few words ".repeat(i % 3)}done`,
      sol1: `Do the first thing ${i}.`,
      sol2: `Do the other thing, twice as long as the first one ${i}.`,
      label: i % 2,
    })),
  );
  const base = [
    "--model",
    llama,
    "--tasks",
    "mqar,piqa",
    "--kv-pairs",
    "4,8",
    "--lengths",
    "64",
    "--limit",
    "9",
    "--offline",
    "--data-dir",
    data,
    "--no-report",
  ];
  const evalTo = async (db: string, extra: string[] = [], env: Record<string, string> = {}) => {
    const out = await runScript("eval", [...base, "--db", db, ...extra], env);
    return out;
  };
  const whole = join(dir, "whole.duckdb");
  assert.equal((await evalTo(whole)).code, 0);
  const shards = [0, 1, 2].map((i) => join(dir, `shard-${i}.duckdb`));
  assert.equal((await evalTo(shards[0], ["--shard", "0/3"])).code, 0);
  // Shard 1 dies after its first commit, as a preempted pod would.
  const killed = await evalTo(shards[1], ["--shards", "3"], {
    JOB_COMPLETION_INDEX: "1",
    KVBENCH_KILL_AFTER_BATCHES: "1",
  });
  assert.notEqual(killed.code, 0);
  const slurm = { SLURM_ARRAY_TASK_ID: "7", SLURM_ARRAY_TASK_MIN: "5", SLURM_ARRAY_TASK_COUNT: "3" };
  assert.equal((await evalTo(shards[2], ["--shards", "3"], slurm)).code, 0);

  const merged = join(dir, "merged.duckdb");
  const refused = await runScript("merge", [merged, ...shards]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /tiny-llama shard 1\/3 did not finish \(running in .*shard-1\.duckdb run 1\)/);
  const missing = await runScript("merge", [join(dir, "other.duckdb"), shards[0], shards[2]]);
  assert.match(missing.stderr, /shard 1\/3 is missing/);

  // Rerun only the killed shard: it resumes in its own database, and the merge goes through.
  assert.equal((await evalTo(shards[1], ["--shards", "3"], { JOB_COMPLETION_INDEX: "1" })).code, 0);
  const ok = await runScript("merge", [merged, ...shards]);
  assert.equal(ok.code, 0, ok.stderr);

  const want = await rows(whole, SAMPLES);
  assert.ok(want.length > 20);
  assert.deepEqual(await rows(merged, SAMPLES), want);
  assert.deepEqual(await rows(merged, RESULTS), await rows(whole, RESULTS));
  // Each shard held a real part of the work, not all of it or none.
  for (const shard of shards) {
    const [{ n }] = await rows(
      shard,
      "SELECT count(*)::INT AS n FROM samples WHERE run_id = (SELECT max(id) FROM runs)",
    );
    assert.ok((n as number) > 0 && (n as number) < want.length, `${shard}: ${n}`);
  }
  // One host, two devices: the shards as child processes, merged into --db.
  const devices = join(dir, "devices.duckdb");
  const spread = await evalTo(devices, ["--devices", "0,1"]);
  assert.equal(spread.code, 0, spread.stderr);
  assert.deepEqual(await rows(devices, SAMPLES), want);
  assert.deepEqual(await rows(devices, RESULTS), await rows(whole, RESULTS));
  const dup = await runScript("merge", [join(dir, "dup.duckdb"), shards[0], shards[1], shards[2], merged]);
  assert.equal(dup.code, 2);
  assert.match(dup.stderr, /was not run with --shard/);
});
