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

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, runScript } from "../_script.ts";
import { findChromium, visitPage } from "../_chromium.ts";

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
    const eval_ = await runScript("eval", [
      "--model",
      zoo.join(","),
      "--tasks",
      "mqar",
      "--kv-pairs",
      "4,8,16",
      "--lengths",
      "64,128",
      "--limit",
      "4",
      "--db",
      db,
      "--no-report",
    ]);
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
