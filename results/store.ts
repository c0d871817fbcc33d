/**
 * How results are stored: the DuckDB schema and every read and write of it.
 *
 * Each finished batch of samples is committed in its own transaction, so a killed process
 * leaves every finished sample in the file; the next run with the same model and task
 * version picks them up instead of recomputing them.
 *
 * @module
 */

import {
  DOUBLE,
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBType,
  type DuckDBValue,
} from "@duckdb/node-api";
import { mkdirSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { UserError } from "../core/errors.ts";
import type { DataFileRecord } from "../core/tasks.ts";

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
ALTER TABLE perf ADD COLUMN IF NOT EXISTS bandwidth_fraction DOUBLE; -- decode: share of the card's memory bandwidth
ALTER TABLE perf ADD COLUMN IF NOT EXISTS step_ms_median DOUBLE;     -- decode: the median step (bench)
ALTER TABLE perf ADD COLUMN IF NOT EXISTS decode_graphs INTEGER;      -- CUDA graphs the task's decode steps made
ALTER TABLE runs ADD COLUMN IF NOT EXISTS teacher VARCHAR;  -- the model this one was converted from
-- A cache policy's compressed form per token (xKV's factors): simulated, the cache held kv_bytes_per_token.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS simulated_kv_bytes_per_token DOUBLE;
-- A sharded cache's bytes per token on one device (TPLA, from kvbench.json); the graph held kv_bytes_per_token.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS per_device_kv_bytes_per_token DOUBLE;
-- The cache size the model's config promises (kvbench.json's bytes_per_token_formula), beside the measured one.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS kv_formula VARCHAR;
`;

/** A new run's description. */
export interface RunInfo {
  modelName: string;
  modelDir: string;
  modelSha256: string;
  family: string | null;
  /** The model this one was converted or distilled from (sidecar `teacher`), if recorded. */
  teacher?: string | null;
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
  /** Bytes per token one device holds of a sharded cache (TPLA; the sidecar's), if any. */
  perDeviceKvBytesPerToken?: number | null;
  /** The cache size formula the sidecar states (`bytes_per_token_formula`), if any. */
  kvFormula?: string | null;
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
  /** A decode row's achieved fraction of the card's memory bandwidth (`deno task bench`). */
  bandwidthFraction?: number | null;
  /** A decode row's median step in ms (`deno task bench`). */
  stepMsMedian?: number | null;
  /**
   * CUDA graphs the task's decode steps made (a static cache on CUDA; see `decode_graphs.ts`): one per
   * batch size and set of cache buffers, so fewer than the batches means buffers were reused.
   */
  decodeGraphs?: number | null;
}

/** The results database. */
export class Store {
  readonly #instance: DuckDBInstance;
  readonly #db: DuckDBConnection;
  /** The database file. */
  readonly path: string;
  /** Runs started and not finished by this process: what an interrupt marks. */
  readonly #open = new Map<number, string>();
  readonly #inflight = new Set<Promise<unknown>>();
  #halted = false;
  #closed = false;

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
      try {
        await db.run(SCHEMA);
        await db.run(`UPDATE runs SET status = 'interrupted' WHERE status = 'running'`);
      } catch (error) {
        throw storageError(error, path) ?? error;
      }
    }
    return store;
  }

  /**
   * Runs a query and returns its rows as plain objects (BIGINT as number). `types` binds values
   * by position (e.g. {@linkcode doublesAt}); the rest are typed from their JS values.
   */
  query(sql: string, values: DuckDBValue[] = [], types?: DuckDBType[]): Promise<Record<string, unknown>[]> {
    return this.#op(async () => {
      const reader = await this.#db.runAndReadAll(sql, values, types);
      return reader.getRowObjectsJS().map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v]))
      );
    });
  }

  /** Starts a run and returns its id. */
  async startRun(info: RunInfo): Promise<number> {
    const rows = await this.query(
      `INSERT INTO runs (id, status, started_at, model_name, model_dir, model_sha256, family,
         tokenizer_sha256, kvbench_commit, deno_version, ort_version, device, dtype, batch_size,
         seed, add_bos, max_length, states, kv_bytes_per_token, fixed_state_bytes, args, teacher,
         per_device_kv_bytes_per_token, kv_formula)
       VALUES (nextval('run_ids'), 'running', now()::TIMESTAMP, $1, $2, $3, $4, $5, $6, $7, $8,
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
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
        info.teacher ?? null,
        info.perDeviceKvBytesPerToken ?? null,
        info.kvFormula ?? null,
      ],
      doublesAt(21, 15, 16, 19),
    );
    this.#open.set(rows[0].id as number, info.modelName);
    return rows[0].id as number;
  }

  /** Ends a run as done or failed. */
  async finishRun(runId: number, status: "done" | "failed", error: string | null = null): Promise<void> {
    await this.#run(
      `UPDATE runs SET status = $1, finished_at = now()::TIMESTAMP, error = $2 WHERE id = $3`,
      [status, error, runId],
    );
    this.#open.delete(runId);
  }

  /** Records the batch size a run settled on (after --batch-size auto backed off). */
  /** Records the cache bytes per token a run's cache policy would have taken (simulated). */
  async setSimulatedKvBytes(runId: number, bytesPerToken: number): Promise<void> {
    await this.#run(`UPDATE runs SET simulated_kv_bytes_per_token = $1 WHERE id = $2`, [
      bytesPerToken,
      runId,
    ]);
  }

  async setBatchSize(runId: number, batchSize: number): Promise<void> {
    await this.#run(`UPDATE runs SET batch_size = $1 WHERE id = $2`, [batchSize, runId]);
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
        ], doublesAt(15, 13));
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
          doublesAt(12, 3, 4, 10),
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
    await this.#run(
      `INSERT INTO perf (run_id, task, tokens, seconds, tokens_per_s, forward_calls, peak_rss_bytes,
         cache_bytes_per_token, fixed_state_bytes, device, max_state_bytes, peak_gpu_bytes, bandwidth_fraction,
         step_ms_median, decode_graphs)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
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
        p.bandwidthFraction ?? null,
        p.stepMsMedian ?? null,
        p.decodeGraphs ?? null,
      ],
      doublesAt(15, 3, 4, 7, 8, 10, 12, 13),
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
    await this.#run(`INSERT INTO nightly_runs VALUES ($1, $2)`, [nightlyId, runId]);
  }

  /** Ends a nightly with what moved. */
  async finishNightly(nightlyId: number, status: string, movements: unknown): Promise<void> {
    await this.#run(
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

  /**
   * The runs of another database file (opened read-only beside this one), with their `args` as
   * JSON text: what a merge reads from each shard.
   */
  async runsIn(path: string): Promise<Record<string, unknown>[]> {
    await this.#db.run(`ATTACH '${sqlString(path)}' AS shard_src (READ_ONLY)`);
    try {
      return await this.query(
        "SELECT id, status, model_name, model_sha256, args FROM shard_src.runs ORDER BY id",
      );
    } finally {
      await this.#db.run("DETACH shard_src");
    }
  }

  /**
   * Copies runs of other database files into one new run of this database: the first source's
   * run row (with `args` replaced), every source's samples, their data files (once each) and their
   * perf rows summed per task (peaks: the largest). Returns the new run's id. Results are not
   * copied: the caller aggregates the merged samples.
   */
  async mergeRuns(sources: readonly { path: string; runId: number }[], args: unknown): Promise<number> {
    const names = sources.map((_, k) => `merge_src_${k}`);
    for (const [k, { path }] of sources.entries()) {
      await this.#db.run(`ATTACH '${sqlString(path)}' AS ${names[k]} (READ_ONLY)`);
    }
    try {
      const [{ id }] = await this.query("SELECT nextval('run_ids')::INTEGER AS id");
      const from = (table: string) =>
        sources.map((s, k) => `SELECT * FROM ${names[k]}.${table} WHERE run_id = ${Number(s.runId)}`)
          .join(" UNION ALL ");
      await this.#transaction(async () => {
        await this.#db.run(
          `INSERT INTO runs BY NAME SELECT * REPLACE ($1::INTEGER AS id, $2 AS args)
           FROM ${names[0]}.runs WHERE id = $3`,
          [id as number, JSON.stringify(args), sources[0].runId],
        );
        await this.#db.run(
          `INSERT INTO samples BY NAME SELECT * REPLACE ($1::INTEGER AS run_id) FROM (${from("samples")})`,
          [id as number],
        );
        await this.#db.run(
          `INSERT INTO data_files BY NAME SELECT DISTINCT * REPLACE ($1::INTEGER AS run_id)
           FROM (${from("data_files")})`,
          [id as number],
        );
        await this.#db.run(
          `INSERT INTO perf BY NAME
           SELECT $1::INTEGER AS run_id, task, sum(tokens) AS tokens, sum(seconds) AS seconds,
             sum(tokens) / nullif(sum(seconds), 0) AS tokens_per_s, sum(forward_calls) AS forward_calls,
             max(peak_rss_bytes) AS peak_rss_bytes, max(cache_bytes_per_token) AS cache_bytes_per_token,
             max(fixed_state_bytes) AS fixed_state_bytes, any_value(device) AS device,
             max(max_state_bytes) AS max_state_bytes, max(peak_gpu_bytes) AS peak_gpu_bytes
           FROM (${from("perf")}) GROUP BY task`,
          [id as number],
        );
      });
      return id as number;
    } finally {
      for (const name of names) await this.#db.run(`DETACH ${name}`);
    }
  }

  /** Closes the database, flushing it to disk. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.closeSync();
      this.#instance.closeSync();
    } catch (error) {
      throw storageError(error, this.path) ?? error;
    }
  }

  /**
   * Stops the store for an interrupted process: later operations never settle, the one in flight
   * (a batch's transaction) ends first, then the runs started and not finished are marked
   * `interrupted` and the database is closed. Returns what those runs kept.
   */
  async interrupt(): Promise<{ runId: number; modelName: string; samples: number }[]> {
    this.#halted = true;
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    const kept: { runId: number; modelName: string; samples: number }[] = [];
    for (const [runId, modelName] of this.#open) {
      await this.#db.run(
        `UPDATE runs SET status = 'interrupted', finished_at = now()::TIMESTAMP, error = 'interrupted' WHERE id = $1`,
        [runId],
      );
      const reader = await this.#db.runAndReadAll(
        `SELECT count(*)::INTEGER AS n FROM samples WHERE run_id = $1`,
        [
          runId,
        ],
      );
      kept.push({ runId, modelName, samples: reader.getRowObjectsJS()[0].n as number });
    }
    this.close();
    return kept;
  }

  /** Runs one operation: refused once interrupted, tracked while in flight, disk errors made one line. */
  #op<T>(body: () => Promise<T>): Promise<T> {
    // The process is about to exit: an operation started now would race the close.
    if (this.#halted) return new Promise<T>(() => {});
    const done = body().catch((error) => {
      throw storageError(error, this.path) ?? error;
    });
    this.#inflight.add(done);
    const forget = () => this.#inflight.delete(done);
    done.then(forget, forget);
    return done;
  }

  async #run(sql: string, values: DuckDBValue[], types?: DuckDBType[]): Promise<void> {
    await this.#op(() => this.#db.run(sql, values, types));
  }

  #transaction(body: () => Promise<void>): Promise<void> {
    return this.#op(async () => {
      await this.#db.run("BEGIN TRANSACTION");
      try {
        await body();
        await this.#db.run("COMMIT");
      } catch (error) {
        // A failed COMMIT (a full disk) has already ended the transaction: its error is the one to report.
        await this.#db.run("ROLLBACK").catch(() => {});
        throw error;
      }
    });
  }
}

/**
 * Binding types for a statement's values: DOUBLE at the 0-based positions `at`, typed from the
 * JS value elsewhere. A whole JS number is otherwise bound as an integer, and one above 2^63 (a
 * weak model's word perplexity) does not fit BIGINT.
 */
export function doublesAt(count: number, ...at: number[]): DuckDBType[] {
  return Array.from({ length: count }, (_, i) => (at.includes(i) ? DOUBLE : undefined)) as DuckDBType[];
}

/**
 * A DuckDB failure to write or read its file as one line saying where the database lives, or
 * `null` for any other error. A full disk shows up as "No space left on device" on the COMMIT
 * (and "cannot rollback" after it).
 */
export function storageError(error: unknown, path: string): UserError | null {
  if (error instanceof UserError) return null;
  const reason = String((error as Error)?.message ?? error).split("\n")[0];
  const where = path === ":memory:" ? "memory" : resolve(dirname(path));
  if (/no space left|disk is full|disk full|ENOSPC|not enough space/i.test(reason)) {
    return new UserError(
      `Cannot write the results database ${path} as the disk holding ${where} is full (${reason}): ` +
        `free some space there or pass --db on another disk, then run the same command again; ` +
        `every batch committed before is kept`,
    );
  }
  if (/^IO Error|Could not (write|read)|Input\/output error|EIO\b/i.test(reason)) {
    return new UserError(
      `Cannot use the results database ${path} as reading or writing ${where} failed (${reason}): ` +
        `check that disk, or pass --db on another disk, then run the same command again`,
    );
  }
  return null;
}

/** `text` quoted for a SQL string literal (DuckDB's ATTACH takes no parameters). */
function sqlString(text: string): string {
  return text.replaceAll("'", "''");
}
