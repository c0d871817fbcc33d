/**
 * `deno task report --format parquet --out FILE.parquet`: the rows of `--format csv`, typed,
 * written by DuckDB's `COPY … TO (FORMAT PARQUET)` from a table in a private in-memory database
 * (the results database is open read-only, and a report must not write to it anyway).
 *
 * @module
 */

import { BOOLEAN, DOUBLE, DuckDBInstance, type DuckDBType, INTEGER, VARCHAR } from "@duckdb/node-api";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { UserError } from "../core/errors.ts";
import { CSV_COLUMNS, type Leaderboard, tableRows } from "./report.ts";

/** The Parquet type of each column; counts are integers, every measured quantity a double. */
const TYPES: Record<(typeof CSV_COLUMNS)[number], [sql: string, bind: DuckDBType]> = {
  model: ["VARCHAR", VARCHAR],
  family: ["VARCHAR", VARCHAR],
  cache_kind: ["VARCHAR", VARCHAR],
  run_id: ["INTEGER", INTEGER],
  task: ["VARCHAR", VARCHAR],
  metric: ["VARCHAR", VARCHAR],
  num_kv_pairs: ["INTEGER", INTEGER],
  context_len: ["INTEGER", INTEGER],
  depth: ["DOUBLE", DOUBLE],
  value: ["DOUBLE", DOUBLE],
  stderr: ["DOUBLE", DOUBLE],
  n: ["INTEGER", INTEGER],
  is_primary: ["BOOLEAN", BOOLEAN],
  average: ["DOUBLE", DOUBLE],
  kv_bytes_per_token: ["DOUBLE", DOUBLE],
  kv_formula: ["VARCHAR", VARCHAR],
  fixed_state_bytes: ["DOUBLE", DOUBLE],
  simulated_kv_bytes_per_token: ["DOUBLE", DOUBLE],
  per_device_kv_bytes_per_token: ["DOUBLE", DOUBLE],
  compression: ["DOUBLE", DOUBLE],
  baseline: ["VARCHAR", VARCHAR],
  tokens_per_s: ["DOUBLE", DOUBLE],
};

/**
 * Writes the board's rectangular table to `path` as Parquet, one row per model × task × metric ×
 * slice cell, columns in {@linkcode CSV_COLUMNS} order; empty cells are nulls.
 *
 * @throws {UserError} when the file cannot be written.
 */
export async function writeParquet(board: Leaderboard, path: string): Promise<void> {
  const instance = await DuckDBInstance.create(":memory:");
  const db = await instance.connect();
  try {
    await db.run(`CREATE TABLE report (${CSV_COLUMNS.map((c) => `${c} ${TYPES[c][0]}`).join(", ")})`);
    const insert = await db.prepare(`INSERT INTO report VALUES (${CSV_COLUMNS.map((_, i) => `$${i + 1}`)})`);
    const types = CSV_COLUMNS.map((c) => TYPES[c][1]);
    await db.run("BEGIN");
    for (const row of tableRows(board)) {
      insert.bind(CSV_COLUMNS.map((c) => row[c]), types);
      await insert.run();
    }
    await db.run("COMMIT");
    try {
      mkdirSync(dirname(path), { recursive: true });
      // The path is user input: quoted as an SQL string literal.
      await db.run(`COPY report TO '${path.replaceAll("'", "''")}' (FORMAT PARQUET)`);
    } catch (error) {
      throw new UserError(
        `Cannot write ${path}: ${(error as Error).message.split("\n")[0]}; pass another --out`,
      );
    }
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}
