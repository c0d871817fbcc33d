/**
 * What the HTML report needs beyond the leaderboard: each row's provenance (model sha256, kvbench
 * commit, data files, versions, dates and flags of its runs, and its teacher), tokens/s per task
 * and the `deno task bench` measurements, read from the `runs`, `data_files` and `perf` tables.
 *
 * @module
 */

import type { Leaderboard, LeaderboardOptions } from "../report.ts";
import type { Store } from "../store.ts";

/** Where one leaderboard row comes from: what its runs recorded, each list's values distinct. */
export interface Provenance {
  runs: number[];
  modelSha256: string[];
  kvbenchCommits: string[];
  /** sha256 of every data file the runs read; empty when they read none. */
  dataSha256: string[];
  ortVersions: string[];
  denoVersions: string[];
  /** Per run, in id order: when it started and its flags. */
  runInfo: RunFlags[];
  /** The model the row's latest run was converted from (`runs.teacher`), null when none. */
  teacher: string | null;
}

/** When one run started (`YYYY-MM-DD HH:MM:SS`) and its flags as compact JSON. */
export interface RunFlags {
  run: number;
  startedAt: string;
  flags: string;
}

/** One `deno task bench` measurement (perf task `bench/<work>[@<context>][x<batch>]`). */
export interface BenchPoint {
  model: string;
  work: string;
  /** Context tokens, null for work without one (`score-mc`). */
  context: number | null;
  batch: number;
  tokensPerSecond: number;
  /** Device memory at its highest, null where it was not sampled. */
  peakGpuBytes: number | null;
  /** A decode row's achieved fraction of the card's memory bandwidth, null where not recorded. */
  bandwidthFraction: number | null;
  runId: number;
}

/** Tokens per second of one model on one task. */
export interface TaskSpeed {
  model: string;
  task: string;
  tokensPerSecond: number;
  runId: number;
}

/** The extra data of the page. */
export interface PageData {
  /** Model name → provenance. */
  provenance: Record<string, Provenance>;
  speeds: TaskSpeed[];
  /** `deno task bench` rows; empty when there are none. */
  bench: BenchPoint[];
}

/**
 * Reads provenance and per-task speed for the board's models. Speed per model × task comes from
 * the latest finished run (among `options.runs`, if given) that computed anything for the task,
 * as the leaderboard's own tokens/s does per model.
 */
export async function loadPageData(
  store: Store,
  board: Leaderboard,
  options: LeaderboardOptions = {},
): Promise<PageData> {
  const provenance: Record<string, Provenance> = {};
  const allIds = board.rows.flatMap((r) => r.runs);
  // Ids and names come from the database; ids are integers, so they can go into the SQL as text.
  const meta = allIds.length === 0 ? [] : await store.query(
    // Every column (`*`), as the leaderboard does, so an old database without `teacher` still reads.
    `SELECT *, strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started
       FROM runs WHERE id IN (${allIds.join(", ")}) ORDER BY id`,
  );
  const files = allIds.length === 0 ? [] : await store.query(
    `SELECT DISTINCT run_id, sha256 FROM data_files WHERE run_id IN (${allIds.join(", ")})
      ORDER BY run_id, sha256`,
  );
  for (const row of board.rows) {
    const mine = meta.filter((m) => row.runs.includes(m.id as number));
    const distinct = (key: string) => [...new Set(mine.map((m) => String(m[key] ?? "unknown")))];
    provenance[row.model] = {
      runs: row.runs,
      modelSha256: distinct("model_sha256"),
      kvbenchCommits: distinct("kvbench_commit"),
      dataSha256: [
        ...new Set(files.filter((f) => row.runs.includes(f.run_id as number)).map((f) => f.sha256 as string)),
      ],
      ortVersions: distinct("ort_version"),
      denoVersions: distinct("deno_version"),
      runInfo: mine.map((m) => ({
        run: m.id as number,
        startedAt: String(m.started ?? "unknown"),
        flags: compactFlags(m.args as string | null),
      })),
      teacher: (mine.at(-1)?.teacher as string | null | undefined) ?? null,
    };
  }
  const bench = await loadBench(store, options);
  const models = board.rows.map((r) => r.model);
  if (models.length === 0) return { provenance, speeds: [], bench };
  const runFilter = options.runs?.length ? `AND r.id IN (${options.runs.join(", ")})` : "";
  // Model names are user data: quoted as SQL string literals.
  const names = models.map((m) => `'${m.replaceAll("'", "''")}'`).join(", ");
  const rows = await store.query(
    `WITH ranked AS (
       SELECT r.model_name, p.task, p.run_id, sum(p.tokens) AS tokens, sum(p.seconds) AS seconds,
              row_number() OVER (PARTITION BY r.model_name, p.task ORDER BY p.run_id DESC) AS rank
         FROM perf p JOIN runs r ON r.id = p.run_id
        WHERE r.status = 'done' AND p.tokens > 0 AND p.seconds > 0 ${runFilter}
          AND NOT starts_with(p.task, 'bench/')
          AND r.model_name IN (${names})
        GROUP BY r.model_name, p.task, p.run_id)
     SELECT * FROM ranked WHERE rank = 1 ORDER BY model_name, task`,
  );
  const speeds = rows.map((r) => ({
    model: r.model_name as string,
    task: r.task as string,
    tokensPerSecond: (r.tokens as number) / (r.seconds as number),
    runId: r.run_id as number,
  }));
  return { provenance, speeds, bench };
}

/**
 * A run's flags as one line of JSON: unset (null) options dropped, as they say nothing, and
 * unparsable text kept as it is rather than hidden.
 */
export function compactFlags(args: string | null): string {
  if (args === null || args === "") return "{}";
  try {
    const parsed = JSON.parse(args);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return JSON.stringify(parsed);
    return JSON.stringify(Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== null)));
  } catch {
    return args;
  }
}

/** `bench/prefill@4096`, `bench/decode@4096x16`, `bench/score-mc`: work, context and batch. */
export function parseBenchTask(task: string): { work: string; context: number | null; batch: number } | null {
  const m = /^bench\/([a-z-]+)(?:@(\d+))?(?:x(\d+))?$/.exec(task);
  return m ? { work: m[1], context: m[2] ? Number(m[2]) : null, batch: m[3] ? Number(m[3]) : 1 } : null;
}

/**
 * The bench rows of each model's latest finished run that benched that work × context × batch.
 * Bench runs score nothing, so they are not on the leaderboard: they are chosen by `--models` and
 * `--runs` directly rather than by the board's rows.
 */
async function loadBench(store: Store, options: LeaderboardOptions): Promise<BenchPoint[]> {
  const runFilter = options.runs?.length ? `AND r.id IN (${options.runs.join(", ")})` : "";
  const modelFilter = options.models?.length
    ? `AND r.model_name IN (${options.models.map((m) => `'${m.replaceAll("'", "''")}'`).join(", ")})`
    : "";
  const rows = await store.query(
    `WITH ranked AS (
       -- p.*: a database made before a perf column existed (read-only, not migrated) still reads.
       SELECT r.model_name, p.*,
              row_number() OVER (PARTITION BY r.model_name, p.task ORDER BY p.run_id DESC) AS rank
         FROM perf p JOIN runs r ON r.id = p.run_id
        WHERE r.status = 'done' AND starts_with(p.task, 'bench/') AND p.tokens > 0 AND p.seconds > 0
              ${runFilter} ${modelFilter})
     SELECT * FROM ranked WHERE rank = 1 ORDER BY model_name, task`,
  );
  return rows.flatMap((r) => {
    const parsed = parseBenchTask(r.task as string);
    if (parsed === null) return [];
    return [{
      model: r.model_name as string,
      ...parsed,
      tokensPerSecond: (r.tokens as number) / (r.seconds as number),
      peakGpuBytes: (r.peak_gpu_bytes as number | null) ?? null,
      bandwidthFraction: (r.bandwidth_fraction as number | null | undefined) ?? null,
      runId: r.run_id as number,
    }];
  });
}
