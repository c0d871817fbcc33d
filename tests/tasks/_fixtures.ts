/**
 * Test helpers for dataset-backed tasks: a temporary data dir in the --data-dir layout, files
 * written in the formats the hub stores (parquet through DuckDB, JSON lines), a context that
 * never downloads, and fake model responses.
 */

import { DuckDBInstance } from "@duckdb/node-api";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { LoglikelihoodResponse, Request, RollingResponse } from "../../core/requests.ts";
import { type DataFileRecord, syntheticOptions, type TaskContext } from "../../core/tasks.ts";

const empty = Deno.makeTempDirSync({ prefix: "kvbench-empty-cache-" });
// Keep the tests hermetic: no real huggingface_hub or kvbench cache on this machine is consulted.
Deno.env.set("HF_HUB_CACHE", empty);
Deno.env.set("KVBENCH_DATA", empty);

/** A fresh temporary folder. */
export function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "kvbench-test-" });
}

/** Writes `rows` as a parquet file at `dir/<repo>/<path>` (types inferred by DuckDB from JSON). */
export async function writeParquet(
  dir: string,
  repo: string,
  path: string,
  rows: unknown[],
): Promise<string> {
  const dest = join(dir, ...repo.split("/"), ...path.split("/"));
  mkdirSync(dirname(dest), { recursive: true });
  const json = `${dest}.rows.json`;
  writeFileSync(json, JSON.stringify(rows));
  const db = await DuckDBInstance.create(":memory:");
  const con = await db.connect();
  const q = (p: string) => `'${p.replaceAll("'", "''")}'`;
  await con.run(
    `COPY (SELECT * FROM read_json(${q(json)}, format = 'array')) TO ${q(dest)} (FORMAT parquet)`,
  );
  con.closeSync();
  db.closeSync();
  Deno.removeSync(json);
  return dest;
}

/** Writes `rows` as JSON lines at `dir/<repo>/<path>`. */
export function writeJsonl(dir: string, repo: string, path: string, rows: unknown[]): string {
  const dest = join(dir, ...repo.split("/"), ...path.split("/"));
  mkdirSync(dirname(dest), { recursive: true });
  writeFileSync(dest, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return dest;
}

/** A context reading from `dataDir` only; records the files read into `seen`. */
export function offlineCtx(
  dataDir: string,
  overrides: Partial<TaskContext> = {},
  seen?: DataFileRecord[],
): TaskContext {
  return {
    numFewshot: null,
    seed: 1234,
    limit: null,
    vocabSize: 32000,
    maxLength: 2048,
    ...syntheticOptions(),
    dataDir,
    download: false,
    onDataFile: (f) => seen?.push(f),
    ...overrides,
  };
}

/** Loglikelihood responses with the given logprobs (greedy only where `greedy` says). */
export function lls(logprobs: number[], greedy: boolean[] = []): LoglikelihoodResponse[] {
  return logprobs.map((logprob, i) => ({ kind: "loglikelihood", logprob, isGreedy: greedy[i] ?? false }));
}

/** A rolling response. */
export function rolling(logprob: number, tokens = 1): RollingResponse {
  return { kind: "loglikelihood_rolling", logprob, tokens };
}

/** The `(context, continuation)` pairs of loglikelihood requests, for compact assertions. */
export function pairs(requests: readonly Request[]): [string, string][] {
  return requests.map((r) => {
    if (r.kind !== "loglikelihood") throw new Error(`expected a loglikelihood request, got ${r.kind}`);
    return [r.context, r.continuation];
  });
}
