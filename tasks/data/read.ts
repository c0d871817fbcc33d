/**
 * Reads a dataset file's rows through DuckDB: parquet, JSON lines, JSON (an array of records,
 * or an object of records keyed by id) and CSV, optionally from a member of a zip archive.
 *
 * JSON is read as JSON objects and parsed here rather than with `read_json_auto`, whose type
 * detection can turn a string that looks like a date into a date; CSV is read all-VARCHAR for the
 * same reason. Objects keyed by id go through `json_each`, which keeps the file's key order where
 * `JSON.parse` would sort integer-like ids.
 *
 * @module
 */

import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { readFileSync } from "node:fs";
import { UserError } from "../../core/errors.ts";
import { plainValue, type Row } from "./rows.ts";
import { readZipMember } from "./zip.ts";

/** How a dataset file stores its rows. */
export type FileFormat = "parquet" | "jsonl" | "json" | "csv";

/** A file of a dataset repository holding one split. */
export interface DataFile {
  /** Path in the repository, e.g. `ARC-Easy/test-00000-of-00001.parquet`. */
  path: string;
  /** How its rows are stored. */
  format: FileFormat;
  /** For an archive: the member holding the rows (read as `format`). */
  member?: string;
  /** For JSON: an object whose values are the rows, in file order (PubMedQA's id → record). */
  keyed?: boolean;
}

let connection: Promise<DuckDBConnection> | null = null;

/** One in-memory DuckDB for the process: opening one per file would cost more than reading it. */
function duck(): Promise<DuckDBConnection> {
  connection ??= DuckDBInstance.create(":memory:").then((db) => db.connect());
  return connection;
}

/**
 * The rows of a local copy of `file`, in file order.
 *
 * @throws {UserError} naming the file when it cannot be read as `file.format`.
 */
export async function readRows(localPath: string, file: DataFile): Promise<Row[]> {
  const where = file.member ? `${localPath} (member ${file.member})` : localPath;
  try {
    if (file.member) {
      return await rowsFromText(new TextDecoder().decode(memberBytes(localPath, file.member)), file);
    }
    return await rowsFromFile(localPath, file);
  } catch (error) {
    if (error instanceof UserError) throw error;
    const reason = String((error as Error).message ?? error).split("\n")[0];
    throw new UserError(`Cannot read ${where} as ${file.keyed ? "keyed " : ""}${file.format}: ${reason}`);
  }
}

function memberBytes(archive: string, member: string): Uint8Array {
  return readZipMember(readFileSync(archive), member);
}

async function rowsFromFile(path: string, file: DataFile): Promise<Row[]> {
  const literal = `'${path.replaceAll("'", "''")}'`;
  switch (file.format) {
    case "parquet":
      return (await query(`SELECT * FROM read_parquet(${literal})`)).map((r) => plainValue(r) as Row);
    case "csv":
      return (await query(`SELECT * FROM read_csv(${literal}, header = true, all_varchar = true)`)) as Row[];
    case "jsonl":
      return parseJsonColumn(await query(`SELECT json FROM read_ndjson_objects(${literal})`), "json");
    case "json":
      if (file.keyed) return rowsFromText(readFileSync(path, "utf8"), file);
      return parseJsonColumn(
        await query(`SELECT json FROM read_json_objects(${literal}, format = 'array')`),
        "json",
      );
  }
}

async function rowsFromText(text: string, file: DataFile): Promise<Row[]> {
  switch (file.format) {
    case "json":
      if (file.keyed) {
        return parseJsonColumn(await query("SELECT value FROM json_each($1::JSON)", [text]), "value");
      }
      return JSON.parse(text) as Row[];
    case "jsonl":
      return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as Row);
    default:
      throw new Error(`${file.format} inside an archive is not supported`);
  }
}

async function query(sql: string, values?: string[]): Promise<Record<string, unknown>[]> {
  const reader = await (await duck()).runAndReadAll(sql, values);
  return reader.getRowObjectsJS() as Record<string, unknown>[];
}

function parseJsonColumn(rows: Record<string, unknown>[], column: string): Row[] {
  return rows.map((r) => JSON.parse(String(r[column])) as Row);
}
