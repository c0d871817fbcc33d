/**
 * How results are stored: the DuckDB schema and every read and write of it.
 *
 * Each finished batch of samples is committed in its own transaction, so a killed process
 * leaves every finished sample in the file; the next run with the same model and task
 * version picks them up instead of recomputing them.
 *
 * @module
 */

import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from "@duckdb/node-api";
import { mkdirSync } from "node:fs";
import { basename, dirname } from "node:path";
import { UserError } from "../evals/errors.ts";
import type { DataFileRecord } from "../tasks/types.ts";

/** Default database file. */
export const DEFAULT_DB = "results/kvbench.duckdb";

const SCHEMA = `
CREATE SEQUENCE IF NOT EXISTS run_ids START 1;
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  status VARCHAR NOT NULL,            -- running | done | failed | interrupted
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP,
  model_name VARCHAR NOT NULL,
  model_dir VARCHAR NOT NULL,
  model_sha256 VARCHAR NOT NULL,
  family VARCHAR,
  tokenizer_sha256 VARCHAR,
  kvbench_commit VARCHAR,
  deno_version VARCHAR,
  ort_version VARCHAR,
  device VARCHAR NOT NULL,
  dtype VARCHAR,
  batch_size INTEGER,
  seed INTEGER,
  add_bos BOOLEAN,
  max_length INTEGER,
  states VARCHAR,                     -- JSON: the state tensors found in the graph
  kv_bytes_per_token DOUBLE,          -- measured on the run's own state tensors
  fixed_state_bytes DOUBLE,
  args VARCHAR,                       -- JSON: every option of the command
  error VARCHAR
);
CREATE TABLE IF NOT EXISTS results (
  run_id INTEGER NOT NULL,
  task VARCHAR NOT NULL,
  metric VARCHAR NOT NULL,
  value DOUBLE,
  stderr DOUBLE,
  n INTEGER,
  num_fewshot INTEGER,
  task_version INTEGER,
  num_kv_pairs INTEGER,               -- slice columns: NULL on the task's overall row
  context_len INTEGER,
  depth DOUBLE,
  is_primary BOOLEAN                  -- the task's headline metric (the report's average uses it)
);
CREATE TABLE IF NOT EXISTS samples (
  run_id INTEGER NOT NULL,
  task VARCHAR NOT NULL,
  task_version INTEGER NOT NULL,
  doc_id INTEGER NOT NULL,
  request_hash VARCHAR NOT NULL,
  prompt VARCHAR,
  target VARCHAR,
  doc VARCHAR,                        -- JSON
  requests VARCHAR,                   -- JSON: the requests, as sent
  outputs VARCHAR,                    -- JSON: one response per request
  metrics VARCHAR,                    -- JSON: metric -> value
  num_kv_pairs INTEGER,
  context_len INTEGER,
  depth DOUBLE,
  reused_from INTEGER                 -- run whose computation this sample copies, if any
);
CREATE TABLE IF NOT EXISTS data_files (
  run_id INTEGER NOT NULL,
  task VARCHAR NOT NULL,
  repo VARCHAR NOT NULL,              -- dataset repository on the hub
  revision VARCHAR,
  commit VARCHAR,                     -- the commit the hub served, when known
  path VARCHAR NOT NULL,              -- file path in the repository
  member VARCHAR,                     -- member read inside an archive
  local_path VARCHAR,
  origin VARCHAR,                     -- data-dir | hf-cache | kvbench-cache | download
  sha256 VARCHAR NOT NULL,
  bytes BIGINT
);
CREATE SEQUENCE IF NOT EXISTS nightly_ids START 1;
CREATE TABLE IF NOT EXISTS nightlies (
  id INTEGER PRIMARY KEY,
  status VARCHAR NOT NULL,            -- running | done | regressed | failed
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP,
  config VARCHAR,                     -- JSON: the nightly.json used
  movements VARCHAR                   -- JSON: what moved against the previous nightly
);
CREATE TABLE IF NOT EXISTS nightly_runs (
  nightly_id INTEGER NOT NULL,
  run_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS perf (
  run_id INTEGER NOT NULL,
  task VARCHAR NOT NULL,
  tokens BIGINT,
  seconds DOUBLE,
  tokens_per_s DOUBLE,
  forward_calls INTEGER,
  peak_rss_bytes BIGINT,
  cache_bytes_per_token DOUBLE,
  fixed_state_bytes DOUBLE,
  device VARCHAR,
  max_state_bytes DOUBLE,             -- the largest state one sequence held during the task
  peak_gpu_bytes BIGINT               -- device memory in use at its highest (nvidia-smi), where sampled
);
-- Databases made before a column existed gain it here.
ALTER TABLE perf ADD COLUMN IF NOT EXISTS peak_gpu_bytes BIGINT;
`;

/** A new run's description. */
export interface RunInfo {
  modelName: string;
  modelDir: string;
  modelSha256: string;
  family: string | null;
  tokenizerSha256: string | null;
  kvbenchCommit: string;
  denoVersion: string;
  ortVersion: string;
  device: string;
  dtype: string | null;
  batchSize: number;
  seed: number;
  addBos: boolean;
  maxLength: number;
  states: unknown;
  /** Measured bytes per token of the growing states. */
  kvBytesPerToken: number;
  /** Measured bytes per sequence of the fixed-size states. */
  fixedStateBytes: number;
  args: unknown;
}

/** One stored sample. */
export interface SampleRow {
  task: string;
  taskVersion: number;
  docId: number;
  requestHash: string;
  prompt: string;
  target: string;
  doc: unknown;
  requests: unknown;
  outputs: unknown;
  metrics: Record<string, unknown>;
  numKvPairs?: number | null;
  contextLen?: number | null;
  depth?: number | null;
  reusedFrom?: number | null;
}

/** One aggregated result row. */
export interface ResultRow {
  task: string;
  metric: string;
  value: number;
  stderr: number | null;
  n: number;
  numFewshot: number;
  taskVersion: number;
  numKvPairs?: number | null;
  contextLen?: number | null;
  depth?: number | null;
  /** Whether this is the task's headline metric on its overall row. */
  primary: boolean;
}

/** One perf row. */
export interface PerfRow {
  task: string;
  tokens: number;
  seconds: number;
  forwardCalls: number;
  peakRssBytes: number;
  cacheBytesPerToken: number | null;
  fixedStateBytes: number | null;
  device: string;
  /** The largest state one sequence held, in bytes. */
  maxStateBytes?: number | null;
  /** Device memory in use at its highest while the task ran, in bytes, where it was sampled. */
  peakGpuBytes?: number | null;
}

/** The results database. */
export class Store {
  readonly #instance: DuckDBInstance;
  readonly #db: DuckDBConnection;
  /** The database file. */
  readonly path: string;

  private constructor(path: string, instance: DuckDBInstance, db: DuckDBConnection) {
    this.path = path;
    this.#instance = instance;
    this.#db = db;
  }

  /**
   * Opens (creating if needed) the database at `path`. Runs left `running` by a killed process
   * are marked `interrupted`: DuckDB lets one process write a file at a time, so none is live.
   */
  static async open(path: string, options: { readOnly?: boolean } = {}): Promise<Store> {
    let instance: DuckDBInstance;
    try {
      if (!options.readOnly && path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
      instance = await DuckDBInstance.create(path, options.readOnly ? { access_mode: "READ_ONLY" } : {});
    } catch (error) {
      const reason = String((error as Error).message).split("\n")[0];
      // DuckDB names the process holding the file: "Conflicting lock is held in /bin/deno (PID 42)".
      const holder = /Conflicting lock is held in (.*?) \(PID (\d+)\)/.exec(reason);
      if (holder) {
        const who = `process ${holder[2]} (${basename(holder[1])})`;
        throw new UserError(
          options.readOnly
            ? `Cannot read ${path} while ${who} has it open for writing (DuckDB lets no other process ` +
              `open the file meanwhile): wait for it to finish, or copy the file and pass --db COPY, ` +
              `or pass --db with another database`
            : `Cannot write ${path} while ${who} has it open (DuckDB lets a process write a file only ` +
              `while no other has it open): wait for it to finish, or pass --db with another database`,
        );
      }
      throw new UserError(
        `Cannot open the results database ${path}: ${reason}. ` +
          (/lock/i.test(reason)
            ? "Another kvbench process is using it: wait for it or pass --db with another file"
            : "Check the path, or pass --db with another file"),
      );
    }
    const db = await instance.connect();
    const store = new Store(path, instance, db);
    if (!options.readOnly) {
      await db.run(SCHEMA);
      await db.run(`UPDATE runs SET status = 'interrupted' WHERE status = 'running'`);
    }
    return store;
  }

  /** Runs a query and returns its rows as plain objects (BIGINT as number). */
  async query(sql: string, values: DuckDBValue[] = []): Promise<Record<string, unknown>[]> {
    const reader = await this.#db.runAndReadAll(sql, values);
    return reader.getRowObjectsJS().map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v]))
    );
  }

  /** Starts a run and returns its id. */
  async startRun(info: RunInfo): Promise<number> {
    const rows = await this.query(
      `INSERT INTO runs (id, status, started_at, model_name, model_dir, model_sha256, family,
         tokenizer_sha256, kvbench_commit, deno_version, ort_version, device, dtype, batch_size,
         seed, add_bos, max_length, states, kv_bytes_per_token, fixed_state_bytes, args)
       VALUES (nextval('run_ids'), 'running', now()::TIMESTAMP, $1, $2, $3, $4, $5, $6, $7, $8,
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
       RETURNING id`,
      [
        info.modelName,
        info.modelDir,
        info.modelSha256,
        info.family,
        info.tokenizerSha256,
        info.kvbenchCommit,
        info.denoVersion,
        info.ortVersion,
        info.device,
        info.dtype,
        info.batchSize,
        info.seed,
        info.addBos,
        info.maxLength,
        JSON.stringify(info.states),
        info.kvBytesPerToken,
        info.fixedStateBytes,
        JSON.stringify(info.args),
      ],
    );
    return rows[0].id as number;
  }

  /** Ends a run as done or failed. */
  async finishRun(runId: number, status: "done" | "failed", error: string | null = null): Promise<void> {
    await this.#db.run(
      `UPDATE runs SET status = $1, finished_at = now()::TIMESTAMP, error = $2 WHERE id = $3`,
      [status, error, runId],
    );
  }

  /** Records the batch size a run settled on (after --batch-size auto backed off). */
  async setBatchSize(runId: number, batchSize: number): Promise<void> {
    await this.#db.run(`UPDATE runs SET batch_size = $1 WHERE id = $2`, [batchSize, runId]);
  }

  /** Commits a batch of samples in one transaction. */
  async addSamples(runId: number, samples: readonly SampleRow[]): Promise<void> {
    if (samples.length === 0) return;
    await this.#transaction(async () => {
      const insert = await this.#db.prepare(
        `INSERT INTO samples VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      );
      for (const s of samples) {
        insert.bind([
          runId,
          s.task,
          s.taskVersion,
          s.docId,
          s.requestHash,
          s.prompt,
          s.target,
          JSON.stringify(s.doc),
          JSON.stringify(s.requests),
          JSON.stringify(s.outputs),
          JSON.stringify(s.metrics),
          s.numKvPairs ?? null,
          s.contextLen ?? null,
          s.depth ?? null,
          s.reusedFrom ?? null,
        ]);
        await insert.run();
      }
    });
  }

  /**
   * Finished samples of earlier runs of the same model (by content hash) and task version,
   * keyed by `docId:requestHash`; the newest run wins.
   */
  async reusableSamples(
    modelSha256: string,
    task: string,
    taskVersion: number,
  ): Promise<Map<string, { runId: number; outputs: unknown; metrics: Record<string, unknown> }>> {
    const rows = await this.query(
      `SELECT s.run_id, s.doc_id, s.request_hash, s.outputs, s.metrics
         FROM samples s JOIN runs r ON r.id = s.run_id
        WHERE r.model_sha256 = $1 AND s.task = $2 AND s.task_version = $3
        ORDER BY s.run_id`,
      [modelSha256, task, taskVersion],
    );
    const found = new Map<string, { runId: number; outputs: unknown; metrics: Record<string, unknown> }>();
    for (const row of rows) {
      found.set(`${row.doc_id}:${row.request_hash}`, {
        runId: row.run_id as number,
        outputs: JSON.parse(row.outputs as string),
        metrics: JSON.parse(row.metrics as string),
      });
    }
    return found;
  }

  /** The samples of one run and task, in doc order. */
  async samples(runId: number, task: string): Promise<Record<string, unknown>[]> {
    return await this.query(
      `SELECT * FROM samples WHERE run_id = $1 AND task = $2 ORDER BY doc_id`,
      [runId, task],
    );
  }

  /** Replaces a run's results for a task. */
  async setResults(runId: number, task: string, rows: readonly ResultRow[]): Promise<void> {
    await this.#transaction(async () => {
      await this.#db.run(`DELETE FROM results WHERE run_id = $1 AND task = $2`, [runId, task]);
      for (const r of rows) {
        await this.#db.run(
          `INSERT INTO results VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
          [
            runId,
            r.task,
            r.metric,
            Number.isFinite(r.value) ? r.value : null,
            r.stderr !== null && Number.isFinite(r.stderr) ? r.stderr : null,
            r.n,
            r.numFewshot,
            r.taskVersion,
            r.numKvPairs ?? null,
            r.contextLen ?? null,
            r.depth ?? null,
            r.primary,
          ],
        );
      }
    });
  }

  /** Records the dataset files a task read. */
  async addDataFiles(runId: number, task: string, files: readonly DataFileRecord[]): Promise<void> {
    if (files.length === 0) return;
    await this.#transaction(async () => {
      for (const f of files) {
        await this.#db.run(
          `INSERT INTO data_files VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
          [
            runId,
            task,
            f.repo,
            f.revision,
            f.commit,
            f.path,
            f.member,
            f.localPath,
            f.origin,
            f.sha256,
            f.bytes,
          ],
        );
      }
    });
  }

  /** Records a task's throughput and memory. */
  async addPerf(runId: number, p: PerfRow): Promise<void> {
    await this.#db.run(
      `INSERT INTO perf (run_id, task, tokens, seconds, tokens_per_s, forward_calls, peak_rss_bytes,
         cache_bytes_per_token, fixed_state_bytes, device, max_state_bytes, peak_gpu_bytes)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        runId,
        p.task,
        p.tokens,
        p.seconds,
        p.seconds > 0 ? p.tokens / p.seconds : null,
        p.forwardCalls,
        p.peakRssBytes,
        p.cacheBytesPerToken,
        p.fixedStateBytes,
        p.device,
        p.maxStateBytes ?? null,
        p.peakGpuBytes ?? null,
      ],
    );
  }

  /** Starts a nightly and returns its id. */
  async startNightly(config: unknown): Promise<number> {
    const rows = await this.query(
      `INSERT INTO nightlies (id, status, started_at, config)
       VALUES (nextval('nightly_ids'), 'running', now()::TIMESTAMP, $1) RETURNING id`,
      [JSON.stringify(config)],
    );
    return rows[0].id as number;
  }

  /** Files a run under a nightly. */
  async addNightlyRun(nightlyId: number, runId: number): Promise<void> {
    await this.#db.run(`INSERT INTO nightly_runs VALUES ($1, $2)`, [nightlyId, runId]);
  }

  /** Ends a nightly with what moved. */
  async finishNightly(nightlyId: number, status: string, movements: unknown): Promise<void> {
    await this.#db.run(
      `UPDATE nightlies SET status = $1, finished_at = now()::TIMESTAMP, movements = $2 WHERE id = $3`,
      [status, JSON.stringify(movements), nightlyId],
    );
  }

  /** The newest finished nightly before `nightlyId`, if any. */
  async previousNightly(nightlyId: number): Promise<number | null> {
    const rows = await this.query(
      `SELECT max(id) AS id FROM nightlies WHERE id < $1 AND status IN ('done', 'regressed')`,
      [nightlyId],
    );
    return (rows[0]?.id as number | null) ?? null;
  }

  /** Closes the database, flushing it to disk. */
  close(): void {
    this.#db.closeSync();
    this.#instance.closeSync();
  }

  async #transaction(body: () => Promise<void>): Promise<void> {
    await this.#db.run("BEGIN TRANSACTION");
    try {
      await body();
      await this.#db.run("COMMIT");
    } catch (error) {
      await this.#db.run("ROLLBACK");
      throw error;
    }
  }
}
