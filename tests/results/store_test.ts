import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { buildLeaderboard, renderLeaderboard } from "../../results/report.ts";
import { Store } from "../../results/store.ts";

Deno.test("a database made before perf.peak_gpu_bytes existed gains the column and keeps its rows", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "kvbench-store-")), "old.duckdb");
  const old = await DuckDBInstance.create(path);
  const db = await old.connect();
  // The perf table as the first release wrote it.
  await db.run(`CREATE TABLE perf (run_id INTEGER NOT NULL, task VARCHAR NOT NULL, tokens BIGINT,
    seconds DOUBLE, tokens_per_s DOUBLE, forward_calls INTEGER, peak_rss_bytes BIGINT,
    cache_bytes_per_token DOUBLE, fixed_state_bytes DOUBLE, device VARCHAR, max_state_bytes DOUBLE)`);
  await db.run(`INSERT INTO perf VALUES (1, 'old', 10, 1.0, 10.0, 1, 100, 2.0, 0.0, 'cpu', 20.0)`);
  db.closeSync();
  old.closeSync();

  const store = await Store.open(path);
  try {
    await store.addPerf(1, {
      task: "new",
      tokens: 5,
      seconds: 0.5,
      forwardCalls: 1,
      peakRssBytes: 100,
      cacheBytesPerToken: 2,
      fixedStateBytes: 0,
      device: "cuda",
      maxStateBytes: 10,
      peakGpuBytes: 2 ** 30,
    });
    const rows = await store.query("SELECT task, tokens_per_s, peak_gpu_bytes FROM perf ORDER BY task");
    assert.deepEqual(rows, [
      { task: "new", tokens_per_s: 10, peak_gpu_bytes: 2 ** 30 },
      { task: "old", tokens_per_s: 10, peak_gpu_bytes: null },
    ]);
  } finally {
    store.close();
  }
});

Deno.test("a perplexity above 2^63 is stored as a double, and the leaderboard shows it", async () => {
  const store = await Store.open(":memory:");
  try {
    const runId = await store.startRun({
      modelName: "weak",
      modelDir: "/models/weak",
      modelSha256: "sha-weak",
      family: "llama",
      tokenizerSha256: "tok",
      kvbenchCommit: "c",
      denoVersion: "d",
      ortVersion: "o",
      device: "cpu",
      dtype: "float32",
      batchSize: 8,
      seed: 1234,
      addBos: false,
      maxLength: 64,
      states: [],
      kvBytesPerToken: 2 ** 64,
      fixedStateBytes: 0,
      args: {},
    });
    // exp(44) ≈ 1.3e19 > 2^63: a whole JS number that no BIGINT holds.
    const huge = Math.round(Math.exp(44));
    await store.setResults(runId, "wikitext", [
      {
        task: "wikitext",
        metric: "word_perplexity",
        value: huge,
        stderr: null,
        n: 62,
        numFewshot: 0,
        taskVersion: 2,
        primary: true,
      },
    ]);
    await store.addSamples(runId, [{
      task: "wikitext",
      taskVersion: 2,
      docId: 0,
      requestHash: "h",
      prompt: "p",
      target: "t",
      doc: {},
      requests: [],
      outputs: [],
      metrics: { word_perplexity: [-1e4, 10] },
      depth: 2 ** 64,
    }]);
    await store.addPerf(runId, {
      task: "wikitext",
      tokens: 10,
      seconds: 2 ** 64,
      forwardCalls: 1,
      peakRssBytes: 1,
      cacheBytesPerToken: 2 ** 64,
      fixedStateBytes: 2 ** 64,
      device: "cpu",
      maxStateBytes: 2 ** 64,
    });
    await store.finishRun(runId, "done");
    assert.deepEqual(await store.query("SELECT value FROM results"), [{ value: huge }]);
    const board = renderLeaderboard(await buildLeaderboard(store), "table");
    assert.match(board, new RegExp(huge.toFixed(4).replace(".", "\\.")));
  } finally {
    store.close();
  }
});

Deno.test("a bench decode row keeps its achieved bandwidth fraction, and a task the decode graphs it made", async () => {
  const store = await Store.open(":memory:");
  try {
    const id = await store.startRun({
      modelName: "m",
      modelDir: "/m",
      modelSha256: "s",
      family: null,
      tokenizerSha256: null,
      kvbenchCommit: "c",
      denoVersion: "d",
      ortVersion: "o",
      device: "cuda",
      dtype: null,
      batchSize: 1,
      seed: 0,
      addBos: false,
      maxLength: 8,
      states: [],
      kvBytesPerToken: 0,
      fixedStateBytes: 0,
      args: {},
    });
    await store.addPerf(id, {
      task: "bench/decode@4096",
      tokens: 32,
      seconds: 0.5,
      forwardCalls: 32,
      peakRssBytes: 0,
      cacheBytesPerToken: 32768,
      fixedStateBytes: 0,
      device: "cuda",
      bandwidthFraction: 0.0555,
      decodeGraphs: 3,
    });
    const [row] = await store.query("SELECT bandwidth_fraction, decode_graphs FROM perf");
    assert.equal(row.bandwidth_fraction, 0.0555);
    assert.equal(row.decode_graphs, 3);
  } finally {
    store.close();
  }
});
