/**
 * What a task is: docs, the requests each doc makes, how a doc's responses become metrics,
 * and how per-doc metrics aggregate. Tasks are data plus pure functions; the evaluator runs them.
 *
 * @module
 */

import type { AnyResponse, Request } from "../evals/requests.ts";

/** How per-sample values of a metric combine into the task's score. */
export type Aggregation =
  /** Mean, with the closed-form sample stderr. */
  | "mean"
  /** exp(−mean of loglikelihoods), with a bootstrap stderr. */
  | "perplexity"
  /** exp(−Σ loglikelihood / Σ units); samples give `[loglikelihood, units]`. No stderr. */
  | "weighted_perplexity"
  /** (−Σ loglikelihood / Σ bytes) / ln 2; samples give `[loglikelihood, bytes]`. No stderr. */
  | "bits_per_byte";

/** A metric a task reports. */
export interface MetricSpec {
  /** How samples aggregate. */
  aggregation: Aggregation;
  /** Whether a larger value is better (for the report and the regression gate). */
  higherIsBetter: boolean;
}

/** A per-sample metric value: a number, or a pair for the weighted aggregations. */
export type SampleValue = number | [number, number];

/** What the evaluator tells a task about the run. */
export interface TaskContext {
  /** Few-shot examples asked for, or `null` for the task's default. */
  numFewshot: number | null;
  /** The run's seed (few-shot sampling, synthetic data). */
  seed: number;
  /** Docs to evaluate at most (per task, or per cell of a sweep). */
  limit: number | null;
  /** The model's vocabulary size (for token-level synthetic tasks). */
  vocabSize: number;
  /** The longest sequence the model is run on. */
  maxLength: number;
  /** Sequence lengths asked for with --lengths, if any. */
  lengths: number[] | null;
  /** Key–value pair counts asked for with --kv-pairs, if any. */
  kvPairs: number[] | null;
}

/** Columns that slice a sample (zoology's `slices`): stored per sample, grouped in SQL. */
export interface Slices {
  numKvPairs?: number;
  contextLen?: number;
  depth?: number;
}

/** A prepared doc: its requests and what to store about it. */
export interface Prepared<Doc> {
  /** The doc itself (logged with --log-samples). */
  doc: Doc;
  /** Stable id within the task. */
  docId: number;
  /** Requests in a fixed order; `score` receives their responses in that order. */
  requests: Request[];
  /** The gold target as lm-eval logs it. */
  target: string;
  /** Slice columns. */
  slices?: Slices;
}

/** An evaluation task. */
export interface Task<Doc = unknown> {
  /** Name used with --tasks and in the tables. */
  name: string;
  /** Bumped whenever anything that changes a score changes; stored with every result. */
  version: number;
  /** Few-shot count when the user gives none. */
  defaultFewshot: number;
  /** The task's metrics. */
  metrics: Record<string, MetricSpec>;
  /** The configuration to record (lm-eval's `configs` entry). */
  config(ctx: TaskContext): Record<string, unknown>;
  /** Loads and prepares the docs to evaluate, honouring `ctx.limit`. */
  prepare(ctx: TaskContext): Promise<Prepared<Doc>[]>;
  /** Per-sample metric values from the doc's responses. */
  score(prepared: Prepared<Doc>, responses: readonly AnyResponse[]): Record<string, SampleValue>;
}

/** A named group of tasks whose metrics combine, weighted by each task's sample count. */
export interface TaskGroup {
  /** Group name (shown like a task). */
  name: string;
  /** Member task names. */
  tasks: string[];
  /** Metrics to combine (each must be a `mean` metric of every member). */
  metrics: string[];
}
