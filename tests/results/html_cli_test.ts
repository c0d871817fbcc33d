/**
 * `deno task report --format html|svg` as a user runs it, on a database `deno task eval` wrote.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { evalMqar, ROOT, runScript } from "../_script.ts";

Deno.test("report --format html writes one self-contained page; --format svg one figure", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-html-"));
  const db = join(dir, "db.duckdb");
  const models = ["tests/fixtures/llama", "models/llama", "models/transmla"].map((m) => join(ROOT, m));
  const eval_ = await evalMqar(db, models);
  assert.equal(eval_.code, 0, eval_.stderr);

  const out = join(dir, "page");
  const res = await runScript("report", ["--db", db, "--format", "html", "--out", out]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout.trim(), `Wrote ${join(out, "index.html")}`);
  const html = readFileSync(join(out, "index.html"), "utf8");
  // Accuracy, MQAR and speed have data; MQAR runs have no context-length results.
  assert.equal(html.match(/<svg\b/g)?.length, 3);
  assert.match(html, /<p class="note">No RULER or needle-in-a-haystack results\.<\/p>/);
  assert.match(html, /<p class="note">No deno task bench rows in the perf table\.<\/p>/);
  assert.doesNotMatch(html, /ruler-table|bench-table/);
  assert.doesNotMatch(html, /https?:/);
  assert.equal(html.match(/aria-roledescription="point"/g)?.length, 3 + 3 * 2, "3 models; 3 × 2 MQAR cells");
  assert.equal(html.match(/class="mark-line role-mark mqar_marks"/g)?.length, 3);
  assert.equal(
    html.match(/<td class="model" title="runs \d+\nmodel sha256 [0-9a-f]{64}\nkvbench commit /g)?.length,
    3,
  );
  // MQAR is synthetic: no data file; versions and flags as the eval recorded them.
  assert.equal(
    html.match(
      /\ndata sha256 none\nONNX Runtime [^\n"]+\nDeno [^\n"]+\nrun \d+ started [^\n"]+, flags \{[^\n"]*\}"/g,
    )?.length,
    3,
  );
  assert.equal(html.match(/<td>\d\.\d{4} ± \d\.\d{4}<\/td>/g)?.length, 3);

  const svg = join(dir, "speed.svg");
  const one = await runScript("report", ["--db", db, "--format", "svg", "--figure", "speed", "--out", svg]);
  assert.equal(one.code, 0, one.stderr);
  assert.match(
    readFileSync(svg, "utf8"),
    /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^]*speed_marks[^]*<\/svg>$/,
  );

  // A PNG of the same figure, for papers: the PNG signature and twice the SVG's width.
  const png = join(dir, "accuracy.png");
  const raster = await runScript("report", [
    "--db",
    db,
    "--format",
    "png",
    "--figure",
    "accuracy",
    "--out",
    png,
  ]);
  assert.equal(raster.code, 0, raster.stderr);
  const bytes = readFileSync(png);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(new DataView(bytes.buffer, bytes.byteOffset).getUint32(16) > 600, "width at twice the SVG's");

  const refuse = async (args: string[], pattern: RegExp) => {
    const r = await runScript("report", ["--db", db, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  await refuse(["--format", "html"], /--format html writes a file: pass --out DIR/);
  await refuse(["--format", "svg", "--out", svg], /pass --figure accuracy\|mqar\|context\|speed/);
  await refuse(
    ["--format", "svg", "--out", svg, "--figure", "context"],
    /Cannot draw figure "context": No RULER/,
  );
  await refuse(
    ["--format", "html", "--out", out, "--metric", "gsm8k/acc"],
    /Cannot plot --metric "gsm8k\/acc"/,
  );
  await refuse(["--figure", "speed"], /--figure only applies to --format svg or png/);
  await refuse(
    ["--format", "png", "--figure", "speed", "--out", svg],
    /writes a \.png file: pass --out FILE\.png/,
  );
  assert.ok(!existsSync(join(dir, "context.svg")));
});
