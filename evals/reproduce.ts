/**
 * The `reproduce` command: re-runs a stored run from what the database recorded, into a fresh
 * database, after checking that the model, tokenizer and data files are the ones it ran on, and
 * tells whether every sample came out the same.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual, parseArgs } from "node:util";
import { DEFAULT_DB, Store } from "../results/store.ts";
import { sha256File } from "../tasks/data/hub.ts";
import { type EvalArgs, parseEvalArgs, runEval } from "./cli.ts";
import { UserError } from "../core/errors.ts";
import { hashModelFiles } from "./model/bundle.ts";
import { TextTokenizer } from "./model/tokenizer.ts";

/** The help text of `reproduce`. */
export const REPRODUCE_HELP = `Usage: deno task reproduce RUN_ID [--db PATH]

Re-runs a finished run from what the database recorded (its eval options, model directory and
data files) into a fresh temporary database and compares every sample's outputs and metrics
with the record. Refuses, before running, when the model, its tokenizer or a data file's sha256
differs from the record. Exits 0 when every sample is identical, 1 when not.

  --db PATH   the database holding the run (default: ${DEFAULT_DB})`;

/** The parsed arguments of `reproduce`. */
export interface ReproduceArgs {
  runId: number;
  db: string;
  help: boolean;
}

/**
 * Parses `reproduce`'s arguments: one run id and an optional `--db`.
 *
 * @throws {UserError} for anything else.
 */
export function parseReproduceArgs(argv: string[]): ReproduceArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { db: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UserError(`${(error as Error).message.split("\n")[0]}. Run with --help for the options`);
  }
  const { values, positionals } = parsed;
  const db = values.db ?? DEFAULT_DB;
  if (values.help) return { runId: 0, db, help: true };
  const runId = Number(positionals[0]);
  if (positionals.length !== 1 || !Number.isInteger(runId) || runId < 1) {
    throw new UserError(
      `reproduce takes one run id, a whole number ≥ 1 (got ${
        positionals.length === 0 ? "none" : positionals.map((p) => `"${p}"`).join(" ")
      }): deno task report shows each result's runs`,
    );
  }
  return { runId, db, help: false };
}

/** What a finished run recorded that reproducing it needs. */
export interface RecordedRun {
  id: number;
  modelName: string;
  /** Absolute model directory. */
  modelDir: string;
  modelSha256: string;
  tokenizerSha256: string | null;
  /** The run's `args` JSON: every eval option. */
  args: Record<string, unknown>;
  dataFiles: { repo: string; path: string; member: string | null; localPath: string; sha256: string }[];
}

/** One sample's outputs and metrics, keyed by task, doc id and request hash. */
export interface SampleResult {
  task: string;
  docId: number;
  requestHash: string;
  outputs: unknown;
  metrics: unknown;
}

/** A sample that did not come out as recorded. */
export interface SampleDiff {
  task: string;
  docId: number;
  requestHash: string;
  /** What differs: outputs, metrics, or a sample only one side has. */
  what: "outputs" | "metrics" | "missing" | "extra";
  recorded: unknown;
  reproduced: unknown;
}

/**
 * Reads run `runId` of `store`.
 *
 * @throws {UserError} when there is no such run, or it did not finish.
 */
export async function readRecordedRun(store: Store, runId: number): Promise<RecordedRun> {
  const [run] = await store.query(
    `SELECT id, status, model_name, model_dir, model_sha256, tokenizer_sha256, args FROM runs WHERE id = $1`,
    [runId],
  );
  if (!run) {
    const ids = (await store.query(`SELECT id FROM runs WHERE status = 'done' ORDER BY id`)).map((r) => r.id);
    throw new UserError(
      `Cannot reproduce run ${runId}: ${store.path} has no such run (finished runs: ${
        ids.join(", ") || "none"
      })`,
    );
  }
  if (run.status !== "done") {
    throw new UserError(
      `Cannot reproduce run ${runId}: it is ${run.status}, not done; finish it by running its eval ` +
        `command again, then reproduce the finished run`,
    );
  }
  const files = await store.query(
    `SELECT DISTINCT repo, path, member, local_path, sha256 FROM data_files WHERE run_id = $1 ORDER BY ALL`,
    [runId],
  );
  return {
    id: runId,
    modelName: String(run.model_name),
    modelDir: String(run.model_dir),
    modelSha256: String(run.model_sha256),
    tokenizerSha256: run.tokenizer_sha256 === null ? null : String(run.tokenizer_sha256),
    args: JSON.parse(String(run.args ?? "{}")),
    dataFiles: files.map((f) => ({
      repo: String(f.repo),
      path: String(f.path),
      member: f.member === null ? null : String(f.member),
      localPath: String(f.local_path),
      sha256: String(f.sha256),
    })),
  };
}

/**
 * What changed since the run: the model files, the tokenizer, each data file (by sha256). Empty
 * when everything is as recorded.
 */
export async function changesSince(run: RecordedRun): Promise<string[]> {
  const short = (sha: string) => sha.slice(0, 12);
  if (!existsSync(join(run.modelDir, "model.onnx"))) {
    return [`the model ${run.modelDir}/model.onnx is gone`];
  }
  const changes: string[] = [];
  const model = hashModelFiles(run.modelDir);
  if (model !== run.modelSha256) {
    changes.push(
      `the model in ${run.modelDir} changed (sha256 of model.onnx and its external data is now ` +
        `${short(model)}…, recorded ${short(run.modelSha256)}…)`,
    );
  }
  if (run.tokenizerSha256 !== null) {
    const tokenizer = TextTokenizer.load(run.modelDir).sha256;
    if (tokenizer !== run.tokenizerSha256) {
      changes.push(
        `the tokenizer in ${run.modelDir} changed (sha256 of tokenizer.json and tokenizer_config.json ` +
          `is now ${short(tokenizer)}…, recorded ${short(run.tokenizerSha256)}…)`,
      );
    }
  }
  for (const file of run.dataFiles) {
    const name = `data file ${file.repo}/${file.path}`;
    if (!existsSync(file.localPath)) {
      changes.push(`${name} is gone from ${file.localPath}`);
      continue;
    }
    const sha = await sha256File(file.localPath);
    if (sha !== file.sha256) {
      changes.push(
        `${name} at ${file.localPath} changed (sha256 now ${short(sha)}…, recorded ${short(file.sha256)}…)`,
      );
    }
  }
  return changes;
}

/**
 * The eval options that re-run `run` into database `db`: the recorded ones (an option the run
 * predates keeps its default), on the recorded model directory, recomputing everything and
 * writing nothing beside the database.
 */
export function reproductionArgs(run: RecordedRun, db: string): EvalArgs {
  const defaults = parseEvalArgs([]);
  const recorded = Object.fromEntries(
    Object.keys(defaults).filter((k) => run.args[k] !== undefined).map((k) => [k, run.args[k]]),
  );
  // Runs recorded before the synthetic options were one group kept them at the top level.
  const legacy = Object.fromEntries(
    Object.keys(defaults.synthetic).filter((k) => run.args[k] !== undefined).map((k) => [k, run.args[k]]),
  );
  return {
    ...defaults,
    ...recorded,
    synthetic: { ...defaults.synthetic, ...(recorded.synthetic as object | undefined), ...legacy },
    models: [run.modelDir],
    db,
    outputPath: null,
    logSamples: false,
    fresh: true,
    report: false,
    reportHtml: null,
    // A --devices run is recorded per shard (each with its --shard), or merged without one.
    devices: null,
    help: false,
    version: false,
  };
}

/** The samples of `runId`, as the comparison reads them. */
export async function sampleResults(store: Store, runId: number): Promise<SampleResult[]> {
  const rows = await store.query(
    `SELECT task, doc_id, request_hash, outputs, metrics FROM samples WHERE run_id = $1
      ORDER BY task, doc_id, request_hash`,
    [runId],
  );
  return rows.map((r) => ({
    task: String(r.task),
    docId: Number(r.doc_id),
    requestHash: String(r.request_hash),
    outputs: JSON.parse(String(r.outputs)),
    metrics: JSON.parse(String(r.metrics)),
  }));
}

/** Every sample of `recorded` and `reproduced` that differs, matched by task, doc id and request hash. */
export function compareSamples(
  recorded: readonly SampleResult[],
  reproduced: readonly SampleResult[],
): SampleDiff[] {
  const key = (s: SampleResult) => `${s.task}\u0000${s.docId}\u0000${s.requestHash}`;
  const again = new Map(reproduced.map((s) => [key(s), s]));
  const diffs: SampleDiff[] = [];
  const diff = (s: SampleResult, what: SampleDiff["what"], recorded: unknown, reproduced: unknown) =>
    diffs.push({ task: s.task, docId: s.docId, requestHash: s.requestHash, what, recorded, reproduced });
  for (const s of recorded) {
    const r = again.get(key(s));
    again.delete(key(s));
    if (!r) diff(s, "missing", s.outputs, null);
    else if (!isDeepStrictEqual(s.outputs, asRecorded(r.outputs, s.outputs))) {
      diff(s, "outputs", s.outputs, r.outputs);
    } else if (!isDeepStrictEqual(s.metrics, r.metrics)) diff(s, "metrics", s.metrics, r.metrics);
  }
  for (const r of again.values()) diff(r, "extra", null, r.outputs);
  return diffs;
}

/**
 * `reproduced` without the response fields that `recorded` lacks: a record made before kvbench
 * wrote a field (a generation's `tokens`, 2026-12-06) still reproduces when everything it holds
 * does.
 */
function asRecorded(reproduced: unknown, recorded: unknown): unknown {
  if (!Array.isArray(reproduced) || !Array.isArray(recorded)) return reproduced;
  return reproduced.map((response, i) => {
    const old = recorded[i];
    if (typeof response !== "object" || response === null || typeof old !== "object" || old === null) {
      return response;
    }
    return Object.fromEntries(Object.entries(response).filter(([k]) => k in old));
  });
}

/** One line per difference, values cut to a readable length. */
export function describeDiff(d: SampleDiff): string {
  const show = (v: unknown) => {
    const text = JSON.stringify(v);
    return text.length > 100 ? `${text.slice(0, 100)}…` : text;
  };
  const where = `${d.task} doc ${d.docId} (request ${d.requestHash.slice(0, 12)})`;
  if (d.what === "missing") return `${where}: not reproduced`;
  if (d.what === "extra") return `${where}: reproduced but not in the recorded run`;
  return `${where}: ${d.what} ${show(d.recorded)} → ${show(d.reproduced)}`;
}

/** What {@linkcode reproduce} found. */
export interface Reproduction {
  samples: number;
  diffs: SampleDiff[];
}

/**
 * Re-runs run `runId` of database `dbPath` into a fresh temporary database through `runEval`
 * and compares every sample's outputs and metrics with the record.
 *
 * @throws {UserError} when the run cannot be found, or its model, tokenizer or data changed.
 */
export async function reproduce(runId: number, dbPath: string): Promise<Reproduction> {
  if (!existsSync(dbPath)) {
    throw new UserError(`Cannot reproduce run ${runId}: there is no database ${dbPath}; pass --db PATH`);
  }
  // Read everything first: the record's database stays closed while the run writes its own.
  const store = await Store.open(dbPath, { readOnly: true });
  let run: RecordedRun;
  let recorded: SampleResult[];
  try {
    run = await readRecordedRun(store, runId);
    recorded = await sampleResults(store, runId);
  } finally {
    store.close();
  }
  const changes = await changesSince(run);
  if (changes.length > 0) {
    throw new UserError(
      `Cannot reproduce run ${runId} (${run.modelName}): ${changes.join("; ")}. Restore what ran, or ` +
        `evaluate the new files with deno task eval`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "kvbench-reproduce-" });
  try {
    const db = join(dir, "reproduce.duckdb");
    const [again] = await runEval(reproductionArgs(run, db));
    const fresh = await Store.open(db, { readOnly: true });
    try {
      return { samples: recorded.length, diffs: compareSamples(recorded, await sampleResults(fresh, again)) };
    } finally {
      fresh.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
