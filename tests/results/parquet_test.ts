/**
 * `deno task report --format parquet`: the CSV's rows, typed, read back with DuckDB.
 */

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { CSV_COLUMNS } from "../../results/report.ts";
import { evalMqar, ROOT, runScript } from "../_script.ts";

/** Reads a Parquet file with DuckDB: its column names and types, and its rows as JS values. */
async function readParquet(path: string) {
  const instance = await DuckDBInstance.create(":memory:");
  const db = await instance.connect();
  try {
    const quoted = `'${path.replaceAll("'", "''")}'`;
    const schema = (await db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${quoted})`))
      .getRowObjectsJS().map((r) => `${r.column_name} ${r.column_type}`);
    const rows = (await db.runAndReadAll(`SELECT * FROM read_parquet(${quoted})`)).getRowObjectsJS();
    return { schema, rows };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

Deno.test("report --format parquet writes the CSV's rows with typed columns", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-parquet-"));
  const db = join(dir, "db.duckdb");
  const models = ["models/llama", "models/transmla", "models/zebra"].map((m) => join(ROOT, m));
  const eval_ = await evalMqar(db, models);
  assert.equal(eval_.code, 0, eval_.stderr);

  const csv = await runScript("report", ["--db", db, "--format", "csv"]);
  assert.equal(csv.code, 0, csv.stderr);
  const [header, ...lines] = csv.stdout.trim().split("\n");
  const out = join(dir, "nested", "report.parquet");
  const res = await runScript("report", ["--db", db, "--format", "parquet", "--out", out]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout.trim(), `Wrote ${out}`);

  const { schema, rows } = await readParquet(out);
  assert.deepEqual(schema.map((s) => s.split(" ")[0]), header.split(","));
  assert.deepEqual(schema.filter((s) => /^(run_id|n|num_kv_pairs|value|is_primary|baseline) /.test(s)), [
    "run_id INTEGER",
    "num_kv_pairs INTEGER",
    "value DOUBLE",
    "n INTEGER",
    "is_primary BOOLEAN",
    "baseline VARCHAR",
  ]);
  // 3 models × (overall + 2 cells) of mqar/acc, at least.
  assert.ok(rows.length >= 9, `${rows.length} rows`);
  // Row for row the CSV (no field here holds a comma), empty cells as nulls.
  const asCsv = rows.map((r) => CSV_COLUMNS.map((c) => (r[c] === null ? "" : String(r[c]))).join(","));
  assert.deepEqual(asCsv, lines);
  const zebra = rows.find((r) => r.model === "mqar-zebra" && r.num_kv_pairs === null)!;
  assert.equal(zebra.baseline, "mqar-llama");
  assert.equal(zebra.fixed_state_bytes, 10240);

  const refuse = async (args: string[], pattern: RegExp) => {
    const r = await runScript("report", ["--db", db, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  await refuse(["--format", "parquet"], /--format parquet writes a file: pass --out FILE\.parquet/);
  await refuse(["--format", "csv", "--out", out], /--out only applies to --format html, svg, png or parquet/);
  await refuse(["--format", "parquet", "--out", out, "--metric", "mqar/acc"], /--metric only applies/);
  const file = join(dir, "a-file");
  writeFileSync(file, "");
  await refuse(
    ["--format", "parquet", "--out", join(file, "x.parquet")],
    /Cannot write .*a-file.*; pass another --out/,
  );
});
