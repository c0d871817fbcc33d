/**
 * The nightly runner's matrix and its regression gate: each nightly is a set of runs recorded
 * under one id; the gate compares the newest nightly with the one before it.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { UserError } from "../core/errors.ts";
import type { Store } from "../results/store.ts";

/** One entry of the matrix: these models on these tasks. */
export interface MatrixEntry {
  /** Model directories. */
  models: string[];
  /** Tasks or suites, comma-separated as for --tasks. */
  tasks: string;
  /** Docs per task (or per sweep cell). */
  limit?: number | null;
  /** Few-shot count. */
  numFewshot?: number | null;
  /** Batch size, or "auto". */
  batchSize?: number | "auto";
  /** Sequence lengths for synthetic sweeps (--lengths). */
  lengths?: number[] | null;
  /** Key–value pair counts for MQAR (--kv-pairs). */
  kvPairs?: number[] | null;
  /** Prompt tokens per forward call (--prefill-chunk). @default {DEFAULT_PREFILL_CHUNK} */
  prefillChunk?: number;
  /** A cache policy (--cache-policy, e.g. `xkv:group=2,rank_k=16,rank_v=16`). */
  cachePolicy?: string | null;
}

/** nightly.json. */
export interface NightlyConfig {
  /** Execution provider for every run. */
  device: "cpu" | "cuda";
  /** The matrix. */
  matrix: MatrixEntry[];
  /** Let CUDA round float32 products to TF32, for the whole nightly (--tf32). @default {false} */
  tf32?: boolean;
  /** A score that drops by more than this many of its stderrs is a regression. @default {2} */
  stderrMultiple?: number;
  /** Throughput (tokens/s) down by more than this fraction is a regression. @default {0.10} */
  throughputDrop?: number;
  /**
   * Throughput is compared only where both nightlies spent at least this many seconds in forward
   * calls: shorter timings are mostly noise. @default {5}
   */
  minSpeedSeconds?: number;
}

/** Reads and checks a nightly config file. */
export function readNightlyConfig(path: string): NightlyConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UserError(`Cannot read nightly config ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  const c = raw as NightlyConfig;
  const problems: string[] = [];
  if (!["cpu", "cuda"].includes(c.device)) problems.push(`"device" must be cpu or cuda`);
  if (!Array.isArray(c.matrix) || c.matrix.length === 0) problems.push(`"matrix" must be a non-empty list`);
  if (c.tf32 !== undefined && typeof c.tf32 !== "boolean") problems.push(`"tf32" must be true or false`);
  (Array.isArray(c.matrix) ? c.matrix : []).forEach((e, i) => {
    if (!Array.isArray(e.models) || e.models.length === 0) {
      problems.push(`matrix[${i}].models must list model dirs`);
    }
    if (typeof e.tasks !== "string" || e.tasks.length === 0) {
      problems.push(`matrix[${i}].tasks must name tasks`);
    }
  });
  if (problems.length > 0) throw new UserError(`Cannot use nightly config ${path}: ${problems.join("; ")}`);
  return c;
}

/** A matrix entry as the `deno task eval` flags it stands for (models, device and TF32 included). */
export function evalArgv(entry: MatrixEntry, config: NightlyConfig): string[] {
  const argv = ["--model", entry.models.join(","), "--tasks", entry.tasks, "--device", config.device];
  const put = (flag: string, value: unknown) => {
    if (value !== undefined && value !== null) {
      argv.push(`--${flag}`, Array.isArray(value) ? value.join(",") : String(value));
    }
  };
  put("limit", entry.limit);
  put("num-fewshot", entry.numFewshot);
  put("batch-size", entry.batchSize);
  put("lengths", entry.lengths);
  put("kv-pairs", entry.kvPairs);
  put("prefill-chunk", entry.prefillChunk);
  put("cache-policy", entry.cachePolicy);
  put("tf32", config.tf32 === undefined ? undefined : config.tf32 ? "on" : "off");
  return argv;
}

/** Something that moved between two nightlies. */
export interface Movement {
  model: string;
  task: string;
  metric: string;
  before: number;
  after: number;
  /** What the movement is measured against (2 × stderr, or 10% of throughput). */
  allowed: number;
  regression: boolean;
}

interface ScoreRow {
  model: string;
  task: string;
  metric: string;
  value: number;
  stderr: number | null;
  higher: boolean;
}

interface SpeedRow {
  model: string;
  task: string;
  tokens_per_s: number;
  seconds: number;
}

/**
 * Compares two nightlies' scores and speeds. A score regresses when it moves the wrong way by
 * more than `stderrMultiple` × its current stderr; a throughput when it falls by more than
 * `throughputDrop` of the previous value, where both timings cover at least `minSpeedSeconds`.
 * Metrics without a stderr are reported, never gated.
 */
export function compareNightlies(
  before: { scores: ScoreRow[]; speeds: SpeedRow[] },
  after: { scores: ScoreRow[]; speeds: SpeedRow[] },
  stderrMultiple = 2,
  throughputDrop = 0.1,
  minSpeedSeconds = 5,
): Movement[] {
  const moved: Movement[] = [];
  for (const now of after.scores) {
    const then = before.scores.find((r) =>
      r.model === now.model && r.task === now.task && r.metric === now.metric
    );
    if (!then || now.value === then.value) continue;
    const worse = now.higher ? then.value - now.value : now.value - then.value;
    const allowed = now.stderr !== null ? stderrMultiple * now.stderr : Infinity;
    moved.push({ ...pick(now), before: then.value, after: now.value, allowed, regression: worse > allowed });
  }
  for (const now of after.speeds) {
    const then = before.speeds.find((r) => r.model === now.model && r.task === now.task);
    if (!then || then.tokens_per_s <= 0) continue;
    if (then.seconds < minSpeedSeconds || now.seconds < minSpeedSeconds) continue;
    const drop = (then.tokens_per_s - now.tokens_per_s) / then.tokens_per_s;
    moved.push({
      model: now.model,
      task: now.task,
      metric: "tokens/s",
      before: then.tokens_per_s,
      after: now.tokens_per_s,
      allowed: throughputDrop,
      regression: drop > throughputDrop,
    });
  }
  return moved;
}

function pick(r: ScoreRow) {
  return { model: r.model, task: r.task, metric: r.metric };
}

/** The scores and speeds of one nightly's runs. */
export async function nightlyMeasurements(
  store: Store,
  nightlyId: number,
  higherIsBetter: (task: string, metric: string) => boolean,
): Promise<{ scores: ScoreRow[]; speeds: SpeedRow[] }> {
  const scores = await store.query(
    `SELECT r.model_name AS model, res.task, res.metric, res.value, res.stderr
       FROM results res JOIN runs r ON r.id = res.run_id JOIN nightly_runs n ON n.run_id = r.id
      WHERE n.nightly_id = $1 AND r.status = 'done' AND res.value IS NOT NULL
        AND res.num_kv_pairs IS NULL AND res.context_len IS NULL AND res.depth IS NULL`,
    [nightlyId],
  );
  const speeds = await store.query(
    `SELECT r.model_name AS model, p.task, p.tokens_per_s, p.seconds
       FROM perf p JOIN runs r ON r.id = p.run_id JOIN nightly_runs n ON n.run_id = r.id
      WHERE n.nightly_id = $1 AND r.status = 'done' AND p.tokens > 0`,
    [nightlyId],
  );
  return {
    scores: scores.map((s) => ({
      model: s.model as string,
      task: s.task as string,
      metric: s.metric as string,
      value: s.value as number,
      stderr: s.stderr as number | null,
      higher: higherIsBetter(s.task as string, s.metric as string),
    })),
    speeds: speeds as unknown as SpeedRow[],
  };
}
