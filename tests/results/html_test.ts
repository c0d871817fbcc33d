/**
 * The HTML report (`--format html`): figures rendered server-side as inline SVG, from a database
 * built here with known models, families, MQAR cells, needle cells and perf rows.
 */

import assert from "node:assert/strict";
import { UserError } from "../../core/errors.ts";
import { loadPageData } from "../../results/html/data.ts";
import { CACHE_KINDS, cacheKind } from "../../results/cache_kind.ts";
import { accuracyFigure, buildFigures, paretoFront, placeLabels } from "../../results/html/figures.ts";
import { heatmapCells } from "../../results/html/heatmap.ts";
import { renderPage } from "../../results/html/page.ts";
import { effectiveLength, RULER_THRESHOLD } from "../../results/html/ruler.ts";
import { buildLeaderboard, type Leaderboard, type LeaderboardRow } from "../../results/report.ts";
import { type ResultRow, Store } from "../../results/store.ts";

/** A made-up finished run. */
interface FakeRun {
  model: string;
  family: string;
  kv: number;
  acc: number;
  /** MQAR cells: [kv pairs, length, accuracy]. */
  cells?: [number, number, number][];
  /** Needle cells: [length, depth, score]. */
  needle?: [number, number, number][];
  /** Perf rows: [task, tokens, seconds]. */
  perf?: [string, number, number][];
  /** The model it was converted from (`runs.teacher`). */
  teacher?: string;
  /** sha256 of the data files the run read. */
  dataFiles?: string[];
  /** The run's flags (`runs.args`). */
  args?: Record<string, unknown>;
}

/** A `deno task bench` run: no results, perf rows named as bench.ts names them. */
interface FakeBench {
  model: string;
  family: string;
  kv: number;
  /** [task, tokens, seconds, peak GPU bytes, HBM fraction (decode rows, optional)]. */
  rows: ([string, number, number, number | null] | [string, number, number, number | null, number])[];
}

async function addRun(store: Store, run: FakeRun): Promise<number> {
  const id = await store.startRun({
    modelName: run.model,
    modelDir: `/models/${run.model}`,
    modelSha256: `sha-${run.model}`,
    family: run.family,
    teacher: run.teacher ?? null,
    tokenizerSha256: "tok",
    kvbenchCommit: "abc1234",
    denoVersion: "test",
    ortVersion: "test",
    device: "cpu",
    dtype: "float32",
    batchSize: 8,
    seed: 1234,
    addBos: false,
    maxLength: 256,
    states: [{ input: "past_key_values.0.key" }, { input: "past_key_values.0.value" }],
    kvBytesPerToken: run.kv,
    fixedStateBytes: 0,
    args: run.args ?? {},
  });
  const base = { n: 10, numFewshot: 0, taskVersion: 1, primary: false };
  const mqar: ResultRow[] = [{
    ...base,
    task: "mqar",
    metric: "acc",
    value: run.acc,
    stderr: 0.02,
    primary: true,
  }];
  for (const [kv, len, value] of run.cells ?? []) {
    mqar.push({ ...base, task: "mqar", metric: "acc", value, stderr: 0.1, numKvPairs: kv, contextLen: len });
  }
  await store.setResults(id, "mqar", mqar);
  if (run.needle) {
    const niah: ResultRow[] = [{
      ...base,
      task: "niah",
      metric: "recall",
      value: 0.5,
      stderr: null,
      primary: true,
    }];
    for (const [len, depth, value] of run.needle) {
      niah.push({ ...base, task: "niah", metric: "recall", value, stderr: null, contextLen: len, depth });
    }
    await store.setResults(id, "niah", niah);
  }
  await store.addDataFiles(
    id,
    "mqar",
    (run.dataFiles ?? []).map((sha256, i) => ({
      repo: "org/data",
      revision: "main",
      commit: null,
      path: `part-${i}.parquet`,
      member: null,
      localPath: `/data/part-${i}.parquet`,
      origin: "data-dir" as const,
      sha256,
      bytes: 100,
    })),
  );
  for (const [task, tokens, seconds] of run.perf ?? []) {
    await store.addPerf(id, {
      task,
      tokens,
      seconds,
      forwardCalls: 1,
      peakRssBytes: 0,
      cacheBytesPerToken: run.kv,
      fixedStateBytes: 0,
      device: "cpu",
    });
  }
  await store.finishRun(id, "done");
  return id;
}

/** Inserts a bench run's perf rows directly, as `deno task bench` writes them. */
async function addBench(store: Store, bench: FakeBench): Promise<void> {
  const id = await store.startRun({
    modelName: bench.model,
    modelDir: `/models/${bench.model}`,
    modelSha256: `sha-${bench.model}`,
    family: bench.family,
    tokenizerSha256: "tok",
    kvbenchCommit: "abc1234",
    denoVersion: "test",
    ortVersion: "test",
    device: "cuda",
    dtype: "float32",
    batchSize: 1,
    seed: 0,
    addBos: false,
    maxLength: 4096,
    states: [{ input: "past_key_values.0.key" }, { input: "past_key_values.0.value" }],
    kvBytesPerToken: bench.kv,
    fixedStateBytes: 0,
    args: { bench: true },
  });
  for (const [task, tokens, seconds, peakGpuBytes, bandwidthFraction] of bench.rows) {
    await store.addPerf(id, {
      task,
      tokens,
      seconds,
      bandwidthFraction: bandwidthFraction ?? null,
      forwardCalls: 0,
      peakRssBytes: 0,
      peakGpuBytes,
      cacheBytesPerToken: bench.kv,
      fixedStateBytes: 0,
      maxStateBytes: bench.kv * 4096,
      device: "cuda",
    });
  }
  await store.finishRun(id, "done");
}

const ZOO: FakeRun[] = [
  {
    model: "m-llama",
    family: "llama",
    kv: 512,
    acc: 0.9,
    cells: [[4, 64, 1], [8, 64, 0.9], [4, 128, 0.95], [8, 128, 0.8]],
    needle: [[1000, 0, 1], [1000, 50, 0.8], [2000, 0, 0.6], [2000, 50, 0.4]],
    perf: [["mqar", 1000, 2], ["niah", 500, 1]],
  },
  {
    model: "m-mla",
    family: "transmla",
    kv: 192,
    acc: 0.85,
    cells: [[4, 64, 0.9], [8, 64, 0.7], [4, 128, 0.85], [8, 128, 0.6]],
    needle: [[1000, 0, 0.8], [2000, 0, 0.3]],
    perf: [["mqar", 1200, 2]],
    teacher: "m-llama",
    dataFiles: ["f00d", "beef"],
    args: { limit: 4, tasks: "mqar", seed: null },
  },
  // Dominated: more bytes than m-mla and less accurate, so off the Pareto front.
  {
    model: "m-dma",
    family: "dma",
    kv: 256,
    acc: 0.5,
    cells: [[4, 64, 0.5], [8, 64, 0.4]],
    perf: [["mqar", 800, 2]],
    // Its teacher is not on the figure: no line.
    teacher: "m-absent",
  },
];

const BENCH: FakeBench[] = [
  {
    model: "m-llama",
    family: "llama",
    kv: 512,
    rows: [
      ["bench/prefill@1024", 1024, 0.1, 2 ** 30],
      ["bench/prefill@4096", 4096, 0.5, 2 ** 31],
      ["bench/decode@1024", 32, 0.4, 2 ** 30],
      ["bench/decode@4096", 32, 0.5, 2 ** 31],
      ["bench/decode@1024x16", 512, 0.8, 2 ** 30],
      ["bench/decode@4096x16", 512, 1.6, 3 * 2 ** 30],
      ["bench/score-mc", 10000, 2, null],
    ],
  },
  {
    model: "m-mla",
    family: "transmla",
    kv: 192,
    rows: [
      ["bench/prefill@1024", 1024, 0.08, null],
      ["bench/prefill@4096", 4096, 0.4, null],
      ["bench/decode@1024", 32, 0.3, null],
      ["bench/decode@4096", 32, 0.35, null],
    ],
  },
];

async function withZoo<T>(
  runs: FakeRun[],
  body: (store: Store) => Promise<T>,
  bench: FakeBench[] = [],
): Promise<T> {
  const store = await Store.open(":memory:");
  try {
    for (const run of runs) await addRun(store, run);
    for (const b of bench) await addBench(store, b);
    return await body(store);
  } finally {
    store.close();
  }
}

/** The `<svg>…</svg>` of the page's section `id`, or null when the section has none. */
function sectionSvg(html: string, id: string): string | null {
  const section = new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(html)?.[1];
  assert.ok(section !== undefined, `section ${id}`);
  return /<svg[\s\S]*<\/svg>/.exec(section)?.[0] ?? null;
}

/** Elements Vega drew for the mark layer named `name` (Vega's class `<name>_marks`). */
function countMarks(svg: string, name: string, element: string): number {
  let count = 0;
  for (const m of svg.matchAll(new RegExp(`<g class="[^"]*\\b${name}_marks\\b[^"]*"[^>]*>`, "g"))) {
    // A mark group's children are plain elements up to the group's closing tag.
    const rest = svg.slice(m.index! + m[0].length);
    const body = rest.slice(0, rest.indexOf("</g>"));
    count += body.match(new RegExp(`<${element}\\b`, "g"))?.length ?? 0;
  }
  return count;
}

Deno.test("paretoFront() keeps each point that beats every point with at most its bytes", () => {
  const front = paretoFront([
    { bytes: 512, accuracy: 0.9 },
    { bytes: 192, accuracy: 0.85 },
    { bytes: 256, accuracy: 0.5 },
    { bytes: 192, accuracy: 0.7 },
    { bytes: 1024, accuracy: 0.9 },
  ]);
  assert.deepEqual(front, [{ bytes: 192, accuracy: 0.85 }, { bytes: 512, accuracy: 0.9 }]);
});

Deno.test("placeLabels() keeps labels of neighbouring points apart and inside the plot", () => {
  // Two models at the same bytes and nearly the same accuracy, one in the top-right corner.
  const anchors = [
    { text: "mqar-llama", x: 300, y: 100 },
    { text: "mqar-dma", x: 300, y: 104 },
    { text: "mqar-transmla", x: 410, y: 2 },
  ];
  const at = placeLabels(anchors, 420, 280);
  // Boxes as placeLabels estimates them: 7 px a character, 15 px a line.
  const boxes = at.map((p, i) => ({
    x0: p.x,
    x1: p.x + anchors[i].text.length * 7,
    y0: p.y - 7.5,
    y1: p.y + 7.5,
  }));
  assert.ok(
    !(boxes[0].x0 < boxes[1].x1 && boxes[1].x0 < boxes[0].x1 && boxes[0].y0 < boxes[1].y1 &&
      boxes[1].y0 < boxes[0].y1),
    JSON.stringify(boxes),
  );
  assert.ok(boxes[2].x1 <= 420 && boxes[2].y0 >= 0, JSON.stringify(boxes[2]));
});

Deno.test("renderPage() draws every figure inline as SVG, one mark per model, and the table with ±", async () => {
  const html = await withZoo(ZOO, async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  });
  assert.equal(
    html.match(/<svg\b/g)?.length,
    5,
    "accuracy, mqar, context, the needle heatmap, speed; no bench rows",
  );
  assert.match(
    html,
    /<section id="bench"><h2>[^<]*<\/h2>\n<p class="note">No deno task bench rows in the perf table\.<\/p><\/section>/,
  );
  // Self-contained: no URL of any kind, no external script, stylesheet or image; one inline script.
  assert.doesNotMatch(html, /https?:/);
  assert.doesNotMatch(html, /<link|<img|src=/);
  assert.equal(html.match(/<script>/g)?.length, 1, "the table's sort script, inline");

  const accuracy = sectionSvg(html, "accuracy")!;
  assert.equal(countMarks(accuracy, "models", "path"), 3, "one point per model");
  assert.equal(countMarks(accuracy, "front", "path"), 1, "one front line");
  for (const model of ["m-llama", "m-mla", "m-dma"]) assert.match(accuracy, new RegExp(`>${model}<`));
  // Coloured by kind of cache, in legend order; the family stays in each point's aria label.
  assert.match(accuracy, /legend titled 'cache' .* 3 values: baseline, converted MLA, sparse/);
  assert.match(accuracy, /aria-label="m-mla \(family transmla, cache converted MLA\)"/);
  assert.match(accuracy, /aria-label="m-dma \(family dma, cache sparse\)"[^>]*fill="#54a24b"/);

  // MQAR: one panel per length, one line per model in each (m-dma ran 64 only).
  const mqar = sectionSvg(html, "mqar")!;
  assert.equal(countMarks(mqar, "mqar", "path"), 5);
  assert.match(mqar, /mqar\/acc, length 64/);
  assert.match(mqar, /mqar\/acc, length 128/);

  const context = sectionSvg(html, "context")!;
  assert.equal(countMarks(context, "context", "path"), 2, "one line per model with needle results");

  const speed = sectionSvg(html, "speed")!;
  assert.equal(countMarks(speed, "speed", "path"), 4, "one bar per model × task timed");

  const rows = html.match(/<tr><td class="model"[^]*?<\/tr>/g) ?? [];
  assert.equal(rows.length, 3);
  for (const row of rows) assert.match(row, /<td>0\.\d{4} ± 0\.0200<\/td>/);
  assert.match(
    html,
    /<td class="model" title="runs 1\nmodel sha256 sha-m-llama\nkvbench commit abc1234\ndata sha256 none\nONNX Runtime test\nDeno test\nrun 1 started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, flags \{\}">m-llama<\/td>/,
  );
  // Data files of the row's runs, and its flags as compact JSON (unset options dropped).
  assert.match(
    html,
    /title="runs 2\n[^"]*\ndata sha256 beef, f00d\n[^"]*\nrun 2 started [^,]*, flags \{&quot;limit&quot;:4,&quot;tasks&quot;:&quot;mqar&quot;\}">m-mla</,
  );
});

Deno.test("the accuracy figure joins a converted model to its teacher when both are drawn", async () => {
  const html = await withZoo(ZOO, async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  });
  const accuracy = sectionSvg(html, "accuracy")!;
  // m-mla → m-llama; m-dma's teacher has no point, so no line.
  assert.equal(countMarks(accuracy, "teacher", "line"), 1);
  assert.match(html, /Thin lines join each converted model to its teacher\./);
  const noTeachers = await withZoo(ZOO.map(({ teacher: _t, ...run }) => run), async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  });
  assert.equal(countMarks(sectionSvg(noTeachers, "accuracy")!, "teacher", "line"), 0);
});

Deno.test("effectiveLength() is the longest length up to which every score exceeds Llama-2-7B's 85.6 at 4K", () => {
  assert.equal(RULER_THRESHOLD, 85.6);
  assert.equal(effectiveLength(new Map([[4096, 95], [8192, 86], [16384, 70], [32768, 90]])), 8192);
  assert.equal(
    effectiveLength(new Map([[8192, 85.6], [4096, 99]])),
    4096,
    "at the threshold is not above it",
  );
  assert.equal(effectiveLength(new Map([[4096, 50]])), null);
});

Deno.test("under the context figure, a RULER table: score by length and effective length per model", async () => {
  const html = await withZoo(ZOO, async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  });
  const section = /<section id="context">([\s\S]*?)<\/section>/.exec(html)![1];
  const table = /<table id="ruler-table">[\s\S]*?<\/table>/.exec(section)?.[0];
  assert.ok(table, "the table sits in the context section");
  assert.match(table, /<th>1000<\/th><th>2000<\/th><th>effective length<\/th>/);
  // m-llama: depths averaged, 90.0 at 1000 then 50.0 at 2000; m-mla is at 80.0 from the start.
  assert.match(table, /<td>m-llama<\/td><td>niah\/recall<\/td><td>90\.0<\/td><td>50\.0<\/td><td>1000<\/td>/);
  assert.match(table, /<td>m-mla<\/td><td>niah\/recall<\/td><td>80\.0<\/td><td>30\.0<\/td><td>none<\/td>/);
  assert.match(section, /exceeds 85\.6 \(Llama-2-7B at 4K/);
  // Without needle or RULER results: no table, only the figure's note.
  const bare = await withZoo(ZOO.map(({ needle: _n, ...run }) => run), async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  });
  assert.doesNotMatch(bare, /ruler-table/);
});

Deno.test("bench rows in perf draw prefill and decode tokens/s against context, with peak GPU memory", async () => {
  const html = await withZoo(ZOO, async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  }, BENCH);
  assert.equal(html.match(/<svg\b/g)?.length, 6, "the five figures and the needle heatmap");
  const bench = sectionSvg(html, "bench")!;
  // Prefill: one line per model (2); decode: m-llama at batch 1 and 16, m-mla at batch 1 (3).
  assert.equal(countMarks(bench, "bench", "path"), 5);
  assert.match(bench, /X-axis titled 'context tokens'/);
  // Bench tasks stay out of the per-task speed bars: still one bar per model × eval task.
  assert.equal(countMarks(sectionSvg(html, "speed")!, "speed", "path"), 4);
  const table = /<table id="bench-table">[\s\S]*?<\/table>/.exec(html)?.[0];
  assert.ok(table);
  assert.match(table, /<th>peak GPU MiB<\/th>/);
  // 4096 tokens in 0.5 s; peak 2 GiB = 2048 MiB; m-mla sampled none.
  assert.match(
    table,
    /<td>m-llama<\/td><td>prefill<\/td><td>4096<\/td><td>1<\/td><td>8192\.0<\/td><td>2048<\/td>/,
  );
  assert.match(
    table,
    /<td>m-llama<\/td><td>decode<\/td><td>4096<\/td><td>16<\/td><td>320\.0<\/td><td>3072<\/td>/,
  );
  assert.match(table, /<td>m-llama<\/td><td>score-mc<\/td><td><\/td><td>1<\/td><td>5000\.0<\/td><td><\/td>/);
  assert.match(
    table,
    /<td>m-mla<\/td><td>prefill<\/td><td>1024<\/td><td>1<\/td><td>12800\.0<\/td><td><\/td>/,
  );

  // Without any peak GPU sample, no such column.
  const cpu = BENCH.map((b) => ({
    ...b,
    rows: b.rows.map(([t, n, s]) => [t, n, s, null] as [string, number, number, null]),
  }));
  const noGpu = await withZoo(ZOO, async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  }, cpu);
  assert.doesNotMatch(noGpu, /peak GPU MiB/);
});

Deno.test("a figure without data is one note, not an empty chart; --metric picks the accuracy axis", async () => {
  const bare = ZOO.map(({ needle: _n, cells: _c, perf: _p, ...run }) => run);
  const { html, board } = await withZoo(bare, async (store) => {
    const board = await buildLeaderboard(store);
    return { board, html: await renderPage(board, await loadPageData(store, board), { metric: "mqar/acc" }) };
  });
  assert.equal(html.match(/<svg\b/g)?.length, 1);
  assert.equal(sectionSvg(html, "mqar"), null);
  assert.match(html, /<section id="mqar"><h2>[^<]*<\/h2>\n<p class="note">No results by number of kv pairs/);
  assert.match(html, /<section id="speed"><h2>[^<]*<\/h2>\n<p class="note">No timed forward calls/);
  assert.match(html, /<section id="bench"><h2>[^<]*<\/h2>\n<p class="note">No deno task bench rows/);
  assert.match(sectionSvg(html, "accuracy")!, /Y-axis titled 'mqar\/acc'/);
  assert.throws(() => accuracyFigure(board, { metric: "gsm8k/acc" }), UserError);
  assert.deepEqual(
    buildFigures(board, { provenance: {}, speeds: [], bench: [] }).map((f) => f.spec !== null),
    [true, false, false, false, false],
  );
});

Deno.test("cacheKind() groups families by how the model got its cache", () => {
  const cases: [string | null, string][] = [
    ["llama", "baseline"],
    ["transmla", "converted MLA"],
    ["xecomla", "converted MLA"],
    ["deepseek_v2", "native MLA"],
    ["deepseek_v3", "native MLA"],
    ["minicpm3", "native MLA"],
    ["plm", "native MLA"],
    ["mla", "native MLA"],
    ["zebra", "hybrid"],
    ["dma", "sparse"],
    ["tpla", "runtime policy"],
    ["xkv", "runtime policy"],
    ["mamba", "other"],
    ["constructor", "other"],
    [null, "other"],
  ];
  for (const [family, kind] of cases) assert.equal(cacheKind(family), kind, String(family));
  assert.deepEqual(new Set(cases.map(([, k]) => k)), new Set(CACHE_KINDS));
});

Deno.test("under the context figure, a needle heatmap: one rect per model × depth × length run", async () => {
  const html = await withZoo(ZOO, async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  });
  const section = /<section id="context">([\s\S]*?)<\/section>/.exec(html)![1];
  const heatmap = /<figure id="needle-heatmap">[\s\S]*?<\/figure>/.exec(section)?.[0];
  assert.ok(heatmap, "the heatmap sits in the context section");
  assert.ok(section.indexOf("needle-heatmap") > section.indexOf("context_marks"), "under the figure");
  // m-llama: 2 depths × 2 lengths; m-mla: depth 0 at 2 lengths. Cells not run are not drawn.
  assert.equal(countMarks(heatmap, "heatmap", "path"), 6);
  assert.match(heatmap, /m-llama · niah\/recall/);
  assert.match(heatmap, /m-mla · niah\/recall/);
  assert.match(heatmap, /X-axis titled 'context tokens'/);
  assert.match(heatmap, /Y-axis titled 'needle depth %'/);
  // Without depth results: no heatmap and no note about it.
  const bare = await withZoo(ZOO.map(({ needle: _n, ...run }) => run), async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  });
  assert.doesNotMatch(bare, /needle-heatmap|heatmap_marks|[Nn]eedle in a haystack: score by depth/);
});

Deno.test("heatmapCells() draws 0–100 scores as 0–1 and leaves cells not run out", () => {
  const cells = heatmapCells([
    {
      model: "a",
      task: "ruler_niah",
      metric: "score",
      depths: [0, 50],
      lengths: [1024],
      values: [[90], [null]],
    },
    { model: "b", task: "niah", metric: "recall", depths: [10], lengths: [64, 128], values: [[1, 0.5]] },
  ]);
  assert.deepEqual(cells, [
    { panel: "a · ruler_niah/score", model: "a", depth: 0, length: 1024, score: 0.9 },
    { panel: "b · niah/recall", model: "b", depth: 10, length: 64, score: 1 },
    { panel: "b · niah/recall", model: "b", depth: 10, length: 128, score: 0.5 },
  ]);
});

Deno.test("the bench table shows a decode row's achieved HBM fraction where bench recorded one", async () => {
  const bench: FakeBench[] = [{
    model: "m-llama",
    family: "llama",
    kv: 512,
    rows: [["bench/prefill@4096", 4096, 0.5, null], ["bench/decode@4096", 32, 0.5, null, 0.0555]],
  }];
  const html = await withZoo(ZOO, async (store) => {
    const board = await buildLeaderboard(store);
    return await renderPage(board, await loadPageData(store, board));
  }, bench);
  const table = /<table id="bench-table">[\s\S]*?<\/table>/.exec(html)?.[0];
  assert.ok(table);
  assert.match(table, /<th>HBM fraction<\/th>/);
  assert.match(table, /<td>decode<\/td><td>4096<\/td><td>1<\/td><td>64\.0<\/td><td>0\.056<\/td>/);
  assert.match(table, /<td>prefill<\/td><td>4096<\/td><td>1<\/td><td>8192\.0<\/td><td><\/td>/);
});

Deno.test("the accuracy figure places a cache policy's run at its simulated bytes and a TPLA run at a device's, and says so", () => {
  const row = (
    model: string,
    kv: number,
    simulated: number | null,
    perDevice: number | null,
  ): LeaderboardRow => ({
    model,
    family: "transmla",
    cacheKind: "converted MLA",
    runs: [1],
    scores: { "mqar/acc": 0.9 },
    stderr: { "mqar/acc": 0.01 },
    average: 0.9,
    kvBytesPerToken: kv,
    kvFormula: null,
    fixedStateBytes: 0,
    simulatedKvBytesPerToken: simulated,
    perDeviceKvBytesPerToken: perDevice,
    compression: null,
    baseline: null,
    tokensPerSecond: null,
  });
  const board = {
    columns: ["mqar/acc"],
    baseline: null,
    rows: [row("t", 192, null, null), row("t+xkv", 192, 134, null), row("t-tpla2", 192, null, 128)],
    slices: [],
    heatmaps: [],
    results: [],
  } as unknown as Leaderboard;
  const spec = accuracyFigure(board).spec as unknown as {
    layer: {
      name: string;
      data: { values: { model: string; bytes: number }[] };
      encoding: { x: { title: string } };
    }[];
  };
  const models = spec.layer.find((l) => l.name === "models")!;
  assert.deepEqual(models.data.values.map((p) => [p.model, p.bytes]), [
    ["t", 192],
    ["t+xkv (simulated)", 134],
    ["t-tpla2 (per device)", 128],
  ]);
  assert.match(models.encoding.x.title, /marked: simulated or per device/);
  const plain = accuracyFigure({ ...board, rows: [board.rows[0]] } as Leaderboard)
    .spec as unknown as typeof spec;
  assert.equal(
    plain.layer.find((l) => l.name === "models")!.encoding.x.title,
    "KV bytes per token (measured)",
  );
});
