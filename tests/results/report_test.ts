import assert from "node:assert/strict";
import { UserError } from "../../core/errors.ts";
import {
  buildLeaderboard,
  CSV_COLUMNS,
  type LeaderboardOptions,
  renderHeatmap,
  renderLeaderboard,
} from "../../results/report.ts";
import { type ResultRow, Store } from "../../results/store.ts";

Deno.test("renderHeatmap() draws depth rows × length columns with shades", () => {
  const text = renderHeatmap({
    model: "m",
    task: "niah",
    metric: "recall",
    depths: [0, 100],
    lengths: [1000, 2000],
    values: [[1, 0.5], [0, null]],
  });
  const lines = text.trim().split("\n");
  assert.match(lines[0], /^m niah\/recall/);
  assert.match(lines[1], /depth % │\s+1000\s+2000/);
  assert.match(lines[3], /^\s+0 │\s+█1\.00\s+▒0\.50$/);
  assert.match(lines[4], /^\s+100 │\s+ 0\.00\s*$/);
});

Deno.test("renderHeatmap() scales RULER's 0–100 scores to 0–1", () => {
  const text = renderHeatmap({
    model: "m",
    task: "t",
    metric: "score",
    depths: [50],
    lengths: [4096],
    values: [[75]],
  });
  assert.match(text, /▓0\.75/);
});

/** A made-up finished run: `layers` KV state pairs, results `[task, metric, value, stderr]`. */
interface FakeRun {
  model: string;
  family?: string | null;
  teacher?: string;
  kv: number;
  tokenizer?: string;
  layers?: number;
  dtype?: string;
  status?: "done" | "failed";
  results?: [string, string, number, number | null][];
  cells?: { kv: number; len: number; value: number; stderr: number | null }[];
}

async function addRun(store: Store, run: FakeRun): Promise<number> {
  const layers = run.layers ?? 2;
  const id = await store.startRun({
    modelName: run.model,
    modelDir: `/models/${run.model}`,
    modelSha256: `sha-${run.model}`,
    family: run.family === undefined ? "llama" : run.family,
    teacher: run.teacher ?? null,
    tokenizerSha256: run.tokenizer ?? "tok-a",
    kvbenchCommit: "test",
    denoVersion: "test",
    ortVersion: "test",
    device: "cpu",
    dtype: run.dtype ?? "float32",
    batchSize: 8,
    seed: 1234,
    addBos: false,
    maxLength: 256,
    states: Array.from({ length: layers }, (_, i) =>
      ["key", "value"].map((kv) => ({
        input: `past_key_values.${i}.${kv}`,
        output: `present.${i}.${kv}`,
      }))).flat(),
    kvBytesPerToken: run.kv,
    fixedStateBytes: 0,
    args: {},
  });
  const rows: ResultRow[] = (run.results ?? [["mqar", "acc", 0.5, 0.01]]).map((
    [task, metric, value, stderr],
  ) => ({
    task,
    metric,
    value,
    stderr,
    n: 100,
    numFewshot: 0,
    taskVersion: 1,
    primary: metric === "acc",
  }));
  for (const c of run.cells ?? []) {
    rows.push({
      task: "mqar",
      metric: "acc",
      value: c.value,
      stderr: c.stderr,
      n: 10,
      numFewshot: 0,
      taskVersion: 1,
      numKvPairs: c.kv,
      contextLen: c.len,
      primary: false,
    });
  }
  for (const task of new Set(rows.map((r) => r.task))) {
    await store.setResults(id, task, rows.filter((r) => r.task === task));
  }
  await store.finishRun(id, run.status ?? "done");
  return id;
}

async function withStore<T>(runs: FakeRun[], body: (store: Store, ids: number[]) => Promise<T>): Promise<T> {
  const store = await Store.open(":memory:");
  try {
    const ids = [];
    for (const run of runs) ids.push(await addRun(store, run));
    return await body(store, ids);
  } finally {
    store.close();
  }
}

Deno.test("the table and markdown show value ± stderr; csv and json keep stderr apart", async () => {
  await withStore([{
    model: "m",
    kv: 512,
    results: [["arc_easy", "acc", 0.625, 0.0125], ["wikitext", "word_perplexity", 31.5, null]],
    cells: [{ kv: 4, len: 64, value: 0.75, stderr: 0.05 }],
  }], async (store) => {
    const board = await buildLeaderboard(store);
    const table = renderLeaderboard(board, "table");
    assert.match(
      table,
      /^m\s+llama\s+baseline\s+0\.6250 ± 0\.0125\s+31\.5000\s/m,
      "no ± where there is no stderr",
    );
    assert.match(table, /^m\s+0\.7500 ± 0\.0500$/m, "slice cells too");
    assert.match(
      renderLeaderboard(board, "markdown"),
      /^\| m \| llama \| baseline \| 0\.6250 ± 0\.0125 \| 31\.5000 \|/m,
    );
    const json = JSON.parse(renderLeaderboard(board, "json"));
    assert.deepEqual(json.rows[0].scores, { "arc_easy/acc": 0.625, "wikitext/word_perplexity": 31.5 });
    assert.deepEqual(json.rows[0].stderr, { "arc_easy/acc": 0.0125, "wikitext/word_perplexity": null });
    const csv = parseCsv(renderLeaderboard(board, "csv"));
    assert.deepEqual(
      csv.map((r) => [r.task, r.metric, r.num_kv_pairs, r.value, r.stderr]),
      [
        ["arc_easy", "acc", "", "0.625", "0.0125"],
        ["mqar", "acc", "4", "0.75", "0.05"],
        ["wikitext", "word_perplexity", "", "31.5", ""],
      ],
    );
  });
});

/** Parses the report's CSV (no quoted fields in these tests) and checks that it is rectangular. */
function parseCsv(text: string): Record<string, string>[] {
  const [header, ...lines] = text.trimEnd().split("\n").map((l) => l.split(","));
  assert.deepEqual(header, [...CSV_COLUMNS]);
  for (const line of lines) assert.equal(line.length, header.length, line.join(","));
  return lines.map((l) => Object.fromEntries(header.map((h, i) => [h, l[i]])));
}

Deno.test("csv is one rectangular table of plain numbers, with the model-level columns on each row", async () => {
  await withStore([
    { model: "base", kv: 512, cells: [{ kv: 4, len: 64, value: 1, stderr: 0 }] },
    {
      model: "mla",
      family: "transmla",
      kv: 192,
      results: [["mqar", "acc", 0.25, 0.02], ["piqa", "acc", 0.5, 0.1]],
    },
  ], async (store) => {
    const text = renderLeaderboard(await buildLeaderboard(store), "csv");
    assert.doesNotMatch(text, /×|^#/m);
    const rows = parseCsv(text);
    assert.equal(rows.length, 4, "base: mqar overall and one cell; mla: mqar and piqa");
    const mla = rows.filter((r) => r.model === "mla");
    for (const r of mla) {
      assert.deepEqual(
        [r.family, r.run_id, r.kv_bytes_per_token, r.baseline, r.average],
        ["transmla", "2", "192", "base", "0.375"],
      );
      assert.equal(Number(r.compression), 512 / 192);
    }
    for (const r of rows) {
      for (const c of ["value", "stderr", "n", "compression", "kv_bytes_per_token", "average"]) {
        assert.ok(r[c] === "" || Number.isFinite(Number(r[c])), `${c} = "${r[c]}" is a plain number`);
      }
    }
  });
});

Deno.test("json rows come with their keys in a fixed order, and columns sorted whatever ran first", async () => {
  await withStore([
    { model: "a", kv: 512, results: [["piqa", "acc", 0.5, null]] },
    { model: "b", kv: 512, results: [["arc_easy", "acc", 0.5, null], ["piqa", "acc", 0.5, null]] },
  ], async (store) => {
    const json = JSON.parse(renderLeaderboard(await buildLeaderboard(store), "json"));
    assert.deepEqual(Object.keys(json), ["columns", "baseline", "rows", "slices", "heatmaps", "results"]);
    assert.deepEqual(json.columns, ["arc_easy/acc", "piqa/acc"]);
    for (const row of json.rows) {
      assert.deepEqual(Object.keys(row), [
        "model",
        "family",
        "cacheKind",
        "runs",
        "scores",
        "stderr",
        "average",
        "kvBytesPerToken",
        "kvFormula",
        "fixedStateBytes",
        "simulatedKvBytesPerToken",
        "perDeviceKvBytesPerToken",
        "compression",
        "baseline",
        "tokensPerSecond",
      ]);
      assert.deepEqual(Object.keys(row.scores), json.columns);
      assert.deepEqual(Object.keys(row.stderr), json.columns);
    }
    assert.deepEqual(Object.keys(json.results[0]), [
      "model",
      "runId",
      "task",
      "metric",
      "numKvPairs",
      "contextLen",
      "depth",
      "value",
      "stderr",
      "n",
      "primary",
    ]);
  });
});

/** The zoo (vocabulary 8192, 2 layers) and the geometry fixtures (vocabulary 512, 16 layers) in one file. */
const GEOMETRY_AND_ZOO: FakeRun[] = [
  { model: "llama3.2-1b-gqa", kv: 32768, tokenizer: "tok-512", layers: 16, dtype: "float16" },
  { model: "transmla-1b", family: "transmla", kv: 18432, tokenizer: "tok-512", layers: 16, dtype: "float16" },
  { model: "mqar-llama", kv: 512, tokenizer: "tok-8192", dtype: "float16" },
  { model: "mqar-transmla", family: "transmla", kv: 192, tokenizer: "tok-8192", dtype: "float16" },
  // Same tokenizer and layers as the zoo, another dtype: no baseline of its shape.
  { model: "mqar-zebra-fp32", family: "zebra", kv: 128, tokenizer: "tok-8192", dtype: "float32" },
];

Deno.test("compression is against the llama of the same shape: a geometry fixture beside the zoo", async () => {
  await withStore(GEOMETRY_AND_ZOO, async (store) => {
    const board = await buildLeaderboard(store);
    const by = Object.fromEntries(board.rows.map((r) => [r.model, [r.compression, r.baseline]]));
    assert.deepEqual(by, {
      "llama3.2-1b-gqa": [1, "llama3.2-1b-gqa"],
      "mqar-llama": [1, "mqar-llama"],
      "mqar-transmla": [512 / 192, "mqar-llama"],
      "mqar-zebra-fp32": [null, null],
      "transmla-1b": [32768 / 18432, "llama3.2-1b-gqa"],
    });
    const table = renderLeaderboard(board, "table");
    // Grouped by how each model got its cache, in the figure legend's order.
    assert.deepEqual(board.rows.map((r) => r.cacheKind), [
      "baseline",
      "baseline",
      "converted MLA",
      "converted MLA",
      "hybrid",
    ]);
    assert.match(table, /compression × \(vs teacher or same-shape llama\)/);
    assert.match(table, /^mqar-llama .* 1\.00× /m);
    assert.match(
      table,
      /same tokenizer, layer count and dtype .*: vs llama3\.2-1b-gqa for llama3\.2-1b-gqa, transmla-1b; vs mqar-llama for mqar-llama, mqar-transmla; none for mqar-zebra-fp32/,
    );
    // Choosing models doesn't choose baselines: mqar-llama is still there to compare with.
    const chosen = await buildLeaderboard(store, { models: ["mqar-transmla"] });
    assert.deepEqual(chosen.rows.map((r) => [r.model, r.compression]), [["mqar-transmla", 512 / 192]]);
    assert.match(renderLeaderboard(chosen, "table"), /compression × \(vs mqar-llama\)/);
  });
});

Deno.test("--baseline measures every row against the one model named", async () => {
  await withStore(GEOMETRY_AND_ZOO, async (store) => {
    const board = await buildLeaderboard(store, { baseline: "llama3.2-1b-gqa" });
    assert.equal(board.baseline, "llama3.2-1b-gqa");
    assert.deepEqual(board.rows.find((r) => r.model === "mqar-llama")?.compression, 64);
    assert.ok(board.rows.every((r) => r.baseline === "llama3.2-1b-gqa"));
    assert.match(renderLeaderboard(board, "table"), /compression × \(vs llama3\.2-1b-gqa\)/);
    await assert.rejects(
      buildLeaderboard(store, { baseline: "gpt" }),
      (e: Error) =>
        e instanceof UserError && /Cannot use baseline "gpt": it has no finished run; models/.test(e.message),
    );
  });
});

Deno.test("by default every model with its latest finished result per task; --models and --runs choose", async () => {
  await withStore([
    { model: "a", kv: 512, results: [["mqar", "acc", 0.1, null], ["piqa", "acc", 0.2, null]] },
    { model: "b", kv: 512, results: [["mqar", "acc", 0.3, null]] },
    { model: "a", kv: 512, results: [["mqar", "acc", 0.4, null]] },
    { model: "a", kv: 512, results: [["mqar", "acc", 0.9, null]], status: "failed" },
  ], async (store) => {
    const scores = async (options = {}) =>
      Object.fromEntries(
        (await buildLeaderboard(store, options)).rows.map((r) => [r.model, [r.scores, r.runs]]),
      );
    assert.deepEqual(await scores(), {
      a: [{ "mqar/acc": 0.4, "piqa/acc": 0.2 }, [1, 3]],
      b: [{ "mqar/acc": 0.3, "piqa/acc": null }, [2]],
    });
    assert.deepEqual(await scores({ models: ["b"] }), { b: [{ "mqar/acc": 0.3 }, [2]] });
    assert.deepEqual(await scores({ runs: [1, 2] }), {
      a: [{ "mqar/acc": 0.1, "piqa/acc": 0.2 }, [1]],
      b: [{ "mqar/acc": 0.3, "piqa/acc": null }, [2]],
    });
    const refused = async (options: LeaderboardOptions, pattern: RegExp) =>
      await assert.rejects(
        buildLeaderboard(store, options),
        (e: Error) => e instanceof UserError && pattern.test(e.message),
      );
    await refused(
      { models: ["c"] },
      /Cannot report model "c": it has no finished run; models with one are a, b/,
    );
    await refused({ runs: [4] }, /Cannot report run 4: it is failed, not done; finished runs are 1, 2, 3/);
    await refused({ runs: [9] }, /Cannot report run 9: there is no such run/);
    await refused({ models: ["a"], runs: [2] }, /run 2: it is of model "b", which --models leaves out/);
  });
});

Deno.test("a converted model is measured against the teacher its sidecar names, before any same-shape llama", async () => {
  await withStore([
    { model: "a-llama", kv: 512, tokenizer: "tok-8192" },
    { model: "mqar-llama", kv: 1024, tokenizer: "tok-8192" },
    { model: "mqar-xecomla", family: "xecomla", teacher: "mqar-llama", kv: 128, tokenizer: "tok-8192" },
    // A teacher with no finished run falls back to the same-shape rule.
    { model: "mqar-orphan", family: "zebra", teacher: "gone", kv: 64, tokenizer: "tok-8192" },
  ], async (store) => {
    const board = await buildLeaderboard(store);
    const by = Object.fromEntries(board.rows.map((r) => [r.model, [r.compression, r.baseline]]));
    assert.deepEqual(by["mqar-xecomla"], [1024 / 128, "mqar-llama"]);
    assert.deepEqual(by["mqar-orphan"], [512 / 64, "a-llama"]);
    const forced = await buildLeaderboard(store, { baseline: "a-llama" });
    assert.equal(forced.rows.find((r) => r.model === "mqar-xecomla")!.baseline, "a-llama");
  });
});

Deno.test("--tasks keeps those columns (and averages over them); --latest keeps each model's latest run", async () => {
  await withStore([
    { model: "m", kv: 512, results: [["mqar", "acc", 0.5, 0.01], ["piqa", "acc", 0.7, 0.02]] },
    { model: "m", kv: 512, results: [["piqa", "acc", 0.9, 0.02]] },
  ], async (store) => {
    const all = await buildLeaderboard(store);
    assert.deepEqual(all.columns, ["mqar/acc", "piqa/acc"]);
    assert.deepEqual(all.rows[0].scores, { "mqar/acc": 0.5, "piqa/acc": 0.9 });
    const piqa = await buildLeaderboard(store, { tasks: ["piqa"] });
    assert.deepEqual(piqa.columns, ["piqa/acc"]);
    assert.equal(piqa.rows[0].average, 0.9);
    const latest = await buildLeaderboard(store, { latest: true });
    assert.deepEqual(latest.rows[0].scores, { "piqa/acc": 0.9 }, "the first run's mqar result is left out");
    await assert.rejects(
      () => buildLeaderboard(store, { tasks: ["hellaswag"] }),
      /no result for it; they have mqar, piqa/,
    );
  });
});

Deno.test("a database made before runs had a teacher column still reports, read-only", async () => {
  const path = `${Deno.makeTempDirSync()}/old.duckdb`;
  const store = await Store.open(path);
  await addRun(store, { model: "m", kv: 512 });
  await store.query("ALTER TABLE runs DROP COLUMN teacher");
  store.close();
  const old = await Store.open(path, { readOnly: true });
  try {
    const board = await buildLeaderboard(old);
    assert.deepEqual(board.rows.map((r) => [r.model, r.compression]), [["m", 1]]);
  } finally {
    old.close();
  }
});

Deno.test("the leaderboard's tokens/s comes from evaluations, not from deno task bench rows", async () => {
  await withStore([{ model: "m", kv: 512 }], async (store, [id]) => {
    await store.addPerf(id, {
      task: "mqar",
      tokens: 1000,
      seconds: 2,
      forwardCalls: 10,
      peakRssBytes: 0,
      cacheBytesPerToken: 512,
      fixedStateBytes: 0,
      device: "cpu",
    });
    const bench = await addRun(store, { model: "m", kv: 512, results: [] });
    await store.addPerf(bench, {
      task: "bench/decode@4096",
      tokens: 99000,
      seconds: 1,
      forwardCalls: 0,
      peakRssBytes: 0,
      cacheBytesPerToken: 512,
      fixedStateBytes: 0,
      device: "cpu",
    });
    const board = await buildLeaderboard(store);
    assert.equal(board.rows[0].tokensPerSecond, 500);
  });
});
