/**
 * The HTML report as a user sees it: written by `deno task report --format html` from a zoo run,
 * opened from disk in headless Chromium, its figures counted in the rendered DOM and its console
 * checked for errors.
 *
 * Chromium comes from Debian's `chromium` package (`.ci/run` installs it). Where it is missing
 * the test fails when `CI` is set (as `.ci/run` sets it), and is ignored with a note otherwise,
 * so a developer without a browser still gets a green suite but CI can never skip it silently.
 * `KVBENCH_UPDATE_SCREENSHOT=1` also writes the screenshot to docs/report-example.png.
 */

import { cacheKind } from "../../results/cache_kind.ts";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { evalMqar, ROOT, runScript } from "../_script.ts";
import { findChromium, visitPage } from "../_chromium.ts";
import { renderPage } from "../../results/html/page.ts";
import type { Leaderboard, LeaderboardRow } from "../../results/report.ts";

const chromium = findChromium();
// CI=0 or CI=false (as some tools write it) mean not CI.
const inCi = !["", "0", "false"].includes(Deno.env.get("CI") ?? "");
if (chromium === null && !inCi) {
  console.warn(
    "html_browser_test: no chromium on PATH (or $CHROMIUM), test ignored; apt-get install chromium to run it",
  );
}

/** What the test reads from the rendered page: mark counts per figure and the sections' notes. */
interface Rendered {
  svgs: number;
  accuracyPoints: number;
  accuracyLabels: number;
  front: number;
  mqarLines: number;
  mqarPoints: number;
  speedBars: number;
  contextNote: string | null;
  tableRows: number;
  /** Pairs of accuracy labels whose boxes overlap on screen. */
  overlappingLabels: string[];
  /** Width of the page's content beyond the viewport (0: no horizontal scrolling). */
  overflow: number;
}

const EXPRESSION = `(() => {
  const count = (sel) => document.querySelectorAll(sel).length;
  const labels = [...document.querySelectorAll("#accuracy .labels_marks text")];
  const boxes = labels.map((t) => [t.textContent, t.getBoundingClientRect()]);
  const overlapping = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, r] = boxes[i], [b, s] = boxes[j];
      if (r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom) overlapping.push(a + "/" + b);
    }
  }
  return {
    svgs: count("svg"),
    accuracyPoints: count("#accuracy .models_marks path"),
    accuracyLabels: labels.length,
    front: count("#accuracy .front_marks path"),
    mqarLines: count("#mqar .mqar_marks path"),
    mqarPoints: count("#mqar [aria-roledescription='point']"),
    speedBars: count("#speed .speed_marks path"),
    contextNote: document.querySelector("#context .note")?.textContent ?? null,
    tableRows: count("#leaderboard tbody tr"),
    overlappingLabels: overlapping,
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  };
})()`;

Deno.test({
  name: "the HTML report of a zoo run renders in Chromium: every figure, its marks, no console error",
  ignore: chromium === null && !inCi,
  fn: async () => {
    assert.ok(
      chromium !== null,
      "CI is set but there is no chromium on PATH (or $CHROMIUM): .ci/run installs Debian's chromium",
    );
    const dir = mkdtempSync(join(tmpdir(), "kvbench-browser-"));
    const db = join(dir, "db.duckdb");
    const zoo = readdirSync(join(ROOT, "models")).sort().map((m) => join(ROOT, "models", m));
    const eval_ = await evalMqar(db, zoo, { kvPairs: "4,8,16", lengths: "64,128" });
    assert.equal(eval_.code, 0, eval_.stderr);
    const out = join(dir, "page");
    const report = await runScript("report", ["--db", db, "--format", "html", "--out", out]);
    assert.equal(report.code, 0, report.stderr);

    const page = await visitPage<Rendered>(chromium, pathToFileURL(join(out, "index.html")).href, EXPRESSION);
    const shot = join(dir, "report.png");
    writeFileSync(shot, page.screenshot);
    if (Deno.env.get("KVBENCH_UPDATE_SCREENSHOT") === "1") {
      writeFileSync(join(ROOT, "docs/report-example.png"), page.screenshot);
    }
    const where = `(screenshot: ${shot})`;
    assert.deepEqual(page.errors, [], `console errors ${where}`);
    const models = zoo.length;
    const r = page.value;
    assert.equal(r.svgs, 3, `accuracy, mqar and speed drawn; context has no data ${where}`);
    assert.equal(r.accuracyPoints, models, `one accuracy point per model ${where}`);
    assert.equal(r.accuracyLabels, models, `one label per model ${where}`);
    assert.equal(r.front, 1, `one Pareto front line ${where}`);
    assert.equal(r.mqarLines, models * 2, `one line per model in each length's panel ${where}`);
    assert.equal(r.mqarPoints, models * 2 * 3, `a point per model × length × kv pairs ${where}`);
    assert.equal(r.speedBars, models, `one speed bar per model (one task) ${where}`);
    assert.equal(r.contextNote, "No RULER or needle-in-a-haystack results.");
    assert.equal(r.tableRows, models);
    assert.deepEqual(r.overlappingLabels, [], `accuracy labels readable ${where}`);
    assert.equal(r.overflow, 0, `the page fits 1000 px without scrolling sideways ${where}`);
  },
});

/** A board row with one MQAR score (null: not run) and the KV bytes the sort test orders by. */
function row(model: string, family: string, acc: number | null, average: number, kv: number): LeaderboardRow {
  return {
    model,
    family,
    cacheKind: cacheKind(family),
    runs: [1],
    scores: { "mqar/acc": acc },
    stderr: { "mqar/acc": acc === null ? null : 0.02 },
    average,
    kvBytesPerToken: kv,
    kvFormula: null,
    fixedStateBytes: 0,
    simulatedKvBytesPerToken: null,
    perDeviceKvBytesPerToken: null,
    compression: null,
    baseline: null,
    tokensPerSecond: null,
  };
}

/** What the sort test reads: the first row's model after each click, and the headers' aria-sort. */
interface Sorted {
  firstRows: Record<string, string>;
  lastRows: Record<string, string>;
  ariaSort: (string | null)[];
  heatmapCells: number;
  /** Width of the page's content beyond the viewport (0: no horizontal scrolling). */
  overflow: number;
}

// Clicks headers by their text, in order, reading the first and last row's model after each.
const SORT_EXPRESSION = `(() => {
  const header = (text) => [...document.querySelectorAll("#leaderboard th")].find((th) => th.textContent === text);
  const model = (i) => document.querySelectorAll("#leaderboard tbody tr")[i].cells[0].textContent;
  const firstRows = {}, lastRows = {};
  const steps = [["mqar/acc", "acc up"], ["mqar/acc", "acc down"], ["KV B/token", "kv up"], ["KV B/token", "kv down"],
    ["model", "model up"], ["model", "model down"]];
  for (const [text, step] of steps) {
    header(text).click();
    firstRows[step] = model(0);
    lastRows[step] = model(3);
  }
  return {
    firstRows,
    lastRows,
    ariaSort: [...document.querySelectorAll("#leaderboard th")].map((th) => th.getAttribute("aria-sort")),
    heatmapCells: document.querySelectorAll("#context .heatmap_marks path").length,
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
  };
})()`;

Deno.test({
  name: "the leaderboard sorts by a clicked header in Chromium: numbers as numbers, a second click reverses",
  ignore: chromium === null && !inCi,
  fn: async () => {
    assert.ok(chromium !== null, "CI is set but there is no chromium on PATH (or $CHROMIUM)");
    // KV bytes sort differently as text ("1024" < "192"); m-big has no MQAR score.
    const board: Leaderboard = {
      columns: ["mqar/acc"],
      rows: [
        row("m-llama", "llama", 0.9, 0.9, 512),
        row("m-mla", "transmla", 0.85, 0.85, 192),
        row("m-dma", "dma", 0.5, 0.5, 256),
        row("m-big", "zebra", null, 0.7, 1024),
      ],
      baseline: null,
      slices: [],
      heatmaps: [{
        model: "m-llama",
        task: "niah",
        metric: "recall",
        depths: [0, 50],
        lengths: [1000, 2000],
        values: [[1, 0.8], [0.6, null]],
      }],
      results: [[1000, 0, 1], [2000, 0, 0.8], [1000, 50, 0.6]].map(([len, depth, value]) => ({
        model: "m-llama",
        runId: 1,
        task: "niah",
        metric: "recall",
        numKvPairs: null,
        contextLen: len,
        depth,
        value,
        stderr: null,
        n: 10,
        primary: false,
      })),
    };
    const dir = mkdtempSync(join(tmpdir(), "kvbench-sort-"));
    const html = join(dir, "index.html");
    writeFileSync(html, await renderPage(board, { provenance: {}, speeds: [], bench: [] }));
    const page = await visitPage<Sorted>(chromium, pathToFileURL(html).href, SORT_EXPRESSION);
    const where = `(page: ${html})`;
    assert.deepEqual(page.errors, [], `console errors ${where}`);
    assert.deepEqual(page.value.firstRows, {
      "acc up": "m-dma",
      "acc down": "m-llama",
      "kv up": "m-mla",
      "kv down": "m-big",
      "model up": "m-big",
      "model down": "m-mla",
    }, where);
    // A row without a score stays last both ways.
    assert.equal(page.value.lastRows["acc up"], "m-big", where);
    assert.equal(page.value.lastRows["acc down"], "m-big", where);
    assert.deepEqual(page.value.ariaSort, ["descending", ...Array(7).fill(null)], where);
    assert.equal(page.value.heatmapCells, 3, `one rect per needle cell run ${where}`);
    assert.equal(page.value.overflow, 0, `the heatmap fits 1000 px ${where}`);
  },
});
