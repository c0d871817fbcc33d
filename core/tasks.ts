/**
 * What a task is: docs, the requests each doc makes, how a doc's responses become metrics,
 * and how per-doc metrics aggregate. Tasks are data plus pure functions; the evaluator runs them.
 *
 * @module
 */

import type { AnyResponse, Request } from "./requests.ts";
import type { Prompting } from "./prompting.ts";

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

/**
 * What the synthetic tasks (MQAR, NIAH, RULER) are built from, as the command line gives it: one
 * group, so that a new option touches its flag, this type and the task that reads it.
 */
export interface SyntheticOptions {
  /** Sequence lengths asked for with --lengths, if any. */
  lengths: number[] | null;
  /** Key–value pair counts asked for with --kv-pairs, if any. */
  kvPairs: number[] | null;
  /** Needle depths in percent for needle-in-a-haystack sweeps (--depths). */
  depths: number[] | null;
  /** Folder of essay files (`*.txt`, or `{"text": …}` JSON) for essay haystacks (--haystack-dir). */
  haystackDir: string | null;
  /** File of words, one a line, for the word-based synthetic tasks (--words-file); else the vocabulary's. */
  wordsFile: string | null;
}

/** The synthetic options `given` sets, every other one unset (null: the task's default). */
export function syntheticOptions(given: Partial<SyntheticOptions> = {}): SyntheticOptions {
  return {
    lengths: given.lengths ?? null,
    kvPairs: given.kvPairs ?? null,
    depths: given.depths ?? null,
    haystackDir: given.haystackDir ?? null,
    wordsFile: given.wordsFile ?? null,
  };
}

/** What the evaluator tells a task about the run. */
export interface TaskContext extends SyntheticOptions {
  /** Few-shot examples asked for, or `null` for the task's default. */
  numFewshot: number | null;
  /** The run's seed (few-shot sampling, synthetic data). */
  seed: number;
  /** Docs to evaluate at most (per task, or per cell of a sweep), or a fraction in (0, 1) of them. */
  limit: number | null;
  /** The model's vocabulary size (for token-level synthetic tasks). */
  vocabSize: number;
  /** The longest sequence the model is run on. */
  maxLength: number;
  /** The model's tokenizer, for tasks built to a token budget (RULER, NIAH); null if none. */
  tokenizer?: TaskTokenizer | null;
  /** Whether prompts are encoded with a leading BOS (the run's --add-bos, resolved). */
  addBos?: boolean;
  /** Folder searched first for dataset files (--data-dir): `DIR/<org>/<name>/<path in the repo>`. */
  dataDir?: string | null;
  /** Whether dataset files found nowhere locally may be downloaded from the hub. @default {true} */
  download?: boolean;
  /** Called with every dataset file a task reads, so the run can record what it evaluated on. */
  onDataFile?: (file: DataFileRecord) => void;
  /**
   * System instruction and chat template of lm-eval's prompts (--system-instruction,
   * --apply-chat-template, --fewshot-as-multiturn). @default {PLAIN}
   */
  prompting?: Prompting;
}

/** A dataset file a task read: where it came from and its checksum. */
export interface DataFileRecord {
  /** Dataset repository on the hub, e.g. `allenai/ai2_arc`. */
  repo: string;
  /** Revision asked for (branch, tag or commit). */
  revision: string;
  /** The commit the hub served, when the file was downloaded and the hub said. */
  commit: string | null;
  /** Path of the file in the repository. */
  path: string;
  /** Member read inside the file, for archives. */
  member: string | null;
  /** Where it was read on this machine. */
  localPath: string;
  /** How it was found: --data-dir, the huggingface_hub cache, kvbench's cache, or a fresh download. */
  origin: "data-dir" | "hf-cache" | "kvbench-cache" | "download";
  /** SHA-256 of the file's bytes, hex. */
  sha256: string;
  /** Size in bytes. */
  bytes: number;
}

/** What a task may ask of the model's tokenizer. */
export interface TaskTokenizer {
  /** Token ids of `text`, with BOS first when `addBos`. */
  encode(text: string, addBos?: boolean): number[];
  /** Text of `ids`, special tokens skipped. */
  decode(ids: readonly number[]): string;
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
  /**
   * Checks, cheaply and before any model runs, that `prepare(ctx)` will succeed: every cell asked
   * for can be built and fits the model's max length, the data files are at hand when downloads
   * are off. Returns notes on what the run leaves out of a default grid, to print up front.
   *
   * @throws {UserError} saying what cannot be built and which flag to change.
   */
  check?(ctx: TaskContext): Promise<string[]>;
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
