/**
 * The evaluator: task → requests → model → per-sample metrics → aggregates, with every
 * finished batch committed to the store, and samples of earlier runs of the same model files
 * and task version reused instead of recomputed.
 *
 * @module
 */

import { openCachePolicy, simulatedBytesPerToken, staticCache } from "./model/cache_policy.ts";
import { createHash } from "node:crypto";
import process from "node:process";
import type { Store } from "../results/store.ts";
import type { ResultRow, RunInfo, SampleRow } from "../results/store.ts";
import {
  type DataFileRecord,
  type Prepared,
  type SyntheticOptions,
  syntheticOptions,
  type Task,
  type TaskContext,
  type TaskGroup,
} from "../core/tasks.ts";
import { UserError } from "../core/errors.ts";
import { LanguageModel } from "./lm.ts";
import { aggregate, pooledStderr } from "./metrics.ts";
import type { ModelBundle } from "./model/bundle.ts";
import { ort } from "./model/ort/api.ts";
import type { OnnxModel } from "./model/onnx_model.ts";
import { type CacheMeasure, Stream } from "./model/stream.ts";
import type { BosPolicy, TextTokenizer } from "./model/tokenizer.ts";
import { PLAIN, type Prompting } from "../core/prompting.ts";
import { startProgress } from "./progress.ts";
import { estimatedTokens, type Shard, shardItems } from "./shard.ts";
import { applyGenKwargs, type GenKwargs } from "./gen_kwargs.ts";
import type { AnyResponse, Request } from "../core/requests.ts";
import { kvbenchCommit } from "./version.ts";

/**
 * Prompt tokens per forward call by default (eval, nightly): long prompts then never need a
 * `len × len` attention score tensor or `len × vocab` logits in one piece.
 */
export const DEFAULT_PREFILL_CHUNK = 512;

/** Docs per committed batch by default: what a killed or interrupted run loses at most. */
export const DEFAULT_COMMIT_EVERY = 64;

/** Options of {@linkcode evaluate}. */
export interface EvaluateOptions {
  /** Tasks to run, in order. */
  tasks: readonly Task[];
  /** Groups to aggregate after the tasks. */
  groups?: readonly TaskGroup[];
  /** Headline metric per task or group, where not the first metric (a suite's `primary`). */
  primary?: Record<string, string>;
  /**
   * Tasks and groups whose headline metrics make the leaderboard's average. Default: every
   * task and group that is not a member of a group in this run.
   */
  average?: readonly string[] | null;
  /** Folder searched first for dataset files (`DIR/<org>/<name>/<path>`). */
  dataDir?: string | null;
  /** Whether missing dataset files may be downloaded from the hub. @default {true} */
  download?: boolean;
  /** What the synthetic tasks are built from (--lengths, --kv-pairs, --depths, --haystack-dir, --words-file). */
  synthetic?: Partial<SyntheticOptions>;
  /** Few-shot count, `null` for each task's default. */
  numFewshot?: number | null;
  /**
   * Render prompts through the tokenizer's chat template (`--apply-chat-template [name]`): the
   * template's name when it holds several (`null` for lm-eval's choice), or null/absent for plain prompts.
   */
  chatTemplate?: { name: string | null } | null;
  /** With a chat template: each few-shot example its own turns (lm-eval's default). @default {true} */
  fewshotAsMultiturn?: boolean;
  /** lm-eval's `--system_instruction`: a system turn (plain text without a chat template). */
  systemInstruction?: string | null;
  /** lm-eval's `--gen_kwargs`: overrides of every generate_until request (greedy keys only). */
  genKwargs?: GenKwargs | null;
  /** Docs per task (per cell for sweeps), `null` for all. */
  limit?: number | null;
  /** Seed for few-shot sampling and synthetic data. @default {1234} */
  seed?: number;
  /** Rows per forward call. @default {8} */
  batchSize?: number;
  /** Back off from `batchSize` on out-of-memory errors (--batch-size auto). @default {false} */
  autoBatch?: boolean;
  /** Overrides the model's max length. */
  maxLength?: number | null;
  /** BOS policy. @default {"auto"} */
  addBos?: BosPolicy;
  /** Reuse finished samples of earlier runs of the same model files. @default {true} */
  reuse?: boolean;
  /**
   * Share a context's state among its continuations; `false` turns it off. @default {the language
   * model's: on, except for a static cache (see `LanguageModelOptions.prefixReuse`)}
   */
  prefixReuse?: boolean;
  /** Feed long prompts in chunks of this many tokens (0: whole). @default {DEFAULT_PREFILL_CHUNK} */
  prefillChunk?: number;
  /** A cache policy (`--cache-policy`, see evals/model/cache_policy.ts), or null. @default {null} */
  cachePolicy?: string | null;
  /** Show a progress bar (defaults to whether stderr is a terminal). */
  progress?: boolean;
  /** Docs per committed batch. @default {DEFAULT_COMMIT_EVERY} */
  commitEvery?: number;
  /**
   * Run only this slice of each task's documents (`--shard`); the run's aggregates then cover the
   * slice, until `deno task merge` aggregates all shards' samples.
   */
  shard?: Shard | null;
  /** The command's options, recorded with the run. */
  args?: Record<string, unknown>;
}

/** What {@linkcode evaluate} returns. */
export interface EvaluateResult {
  /** The run's id in the store. */
  runId: number;
  /** The name the run is stored under: the model's, with its cache policy when one was used. */
  modelName: string;
  /** The aggregated rows written. */
  results: ResultRow[];
  /** The context the tasks were prepared with (what their `config()` reports). */
  context: TaskContext;
}

/** Evaluates one model on the tasks and stores everything under a new run. */
export async function evaluate(
  bundle: ModelBundle,
  store: Store,
  options: EvaluateOptions,
): Promise<EvaluateResult> {
  const seed = options.seed ?? 1234;
  const batchSize = options.batchSize ?? 8;
  const maxLength = options.maxLength ?? bundle.maxLength;
  const addBos = bundle.tokenizer.addsBos(options.addBos ?? "auto");
  const policy = options.cachePolicy ? openCachePolicy(options.cachePolicy, bundle) : null;
  if (policy && bundle.model.staticCache) throw staticCache(policy.spec, bundle.name);
  if (policy && !bundle.model.chunksAfterPast) {
    throw new UserError(
      `Cannot use --cache-policy ${policy.spec} on ${bundle.name}: its graph takes several new tokens only ` +
        "with an empty past, and a rewritten state must be continued with several",
    );
  }
  // A policy's runs are of a model of their own in the report, beside the plain one's.
  const modelName = policy ? `${bundle.name}+${policy.spec}` : bundle.name;
  const lm = new LanguageModel(bundle.model, bundle.tokenizer, {
    cachePolicy: policy,
    batchSize,
    autoBatch: options.autoBatch ?? false,
    maxLength,
    addBos,
    ...(options.prefixReuse === false ? { prefixReuse: false } : {}),
    prefillChunk: options.prefillChunk ?? DEFAULT_PREFILL_CHUNK,
  });
  if (!bundle.model.chunksAfterPast) {
    console.error(
      `kvbench: ${bundle.name} takes several new tokens only with an empty past (its mask subgraph ` +
        "expands a square causal mask): prompts are fed whole and continuations scored without a shared state",
    );
  }
  if (
    bundle.model.device === "cuda" && bundle.model.staticCache &&
    bundle.model.states.some((s) => s.dtype === "float32")
  ) {
    console.error(
      `kvbench: ${bundle.name} is a float32 static-cache graph: ONNX Runtime's CUDA GroupQueryAttention takes ` +
        "float16 and bfloat16 only, so its attention runs on the CPU: export it with --dtype float16 for the GPU",
    );
  }
  const chat = promptingKey(options, bundle.tokenizer);
  const info = await runInfo({ ...bundle, name: modelName }, {
    batchSize,
    seed,
    addBos,
    maxLength,
    // The template's text, not just its name: it is what the prompts were rendered with.
    args: { ...(options.args ?? {}), ...(chat ? { prompting: chat } : {}) },
  });
  const runId = await store.startRun(info);
  const results: ResultRow[] = [];
  const primaryOf = headlines(options);
  const context = taskContext(options, { ...bundle, vocabSize: bundle.model.vocabSize });
  try {
    for (const task of options.tasks) {
      const dataFiles: DataFileRecord[] = [];
      const ctx: TaskContext = { ...context, onDataFile: (file) => dataFiles.push(file) };
      // Everything that changes the tokens fed or the arithmetic: samples are reused only when equal.
      const requestKey = {
        addBos,
        maxLength,
        tokenizer: bundle.tokenizer.sha256,
        device: bundle.model.device,
        // Only when set, so samples of plain prompts keep the hashes they were stored under.
        ...(chat ? { prompting: chat } : {}),
        ...(policy ? { cachePolicy: policy.spec } : {}),
      };
      await runTask(task, ctx, lm, store, runId, {
        requestKey,
        reuse: options.reuse ?? true,
        progress: options.progress,
        commitEvery: options.commitEvery ?? DEFAULT_COMMIT_EVERY,
        modelSha256: bundle.sha256,
        modelName,
        shard: options.shard ?? null,
        genKwargs: options.genKwargs ?? null,
      });
      await store.addDataFiles(runId, task.name, dataFiles);
      results.push(...(await aggregateTask(task, ctx.numFewshot, store, runId, primaryOf(task))));
    }
    results.push(...(await aggregateGroups(options.groups ?? [], results, store, runId, primaryOf)));
    if (lm.batchSize !== batchSize) await store.setBatchSize(runId, lm.batchSize);
    const simulated = policy ? simulatedBytesPerToken(policy.bytes, info.kvBytesPerToken) : null;
    if (simulated !== null) await store.setSimulatedKvBytes(runId, simulated);
    await store.finishRun(runId, "done");
  } catch (error) {
    // Recording the failure can fail too (a full disk): the first error is the one to report.
    await store.finishRun(runId, "failed", String((error as Error).message ?? error)).catch(() => {});
    throw error;
  }
  return { runId, modelName, results, context };
}

/**
 * The context a model's tasks are prepared with under `options`: one mapping, so that the checks
 * made before any model runs (`evals/preflight.ts`) see what {@linkcode evaluate} will.
 */
export function taskContext(
  options: Omit<EvaluateOptions, "tasks">,
  model: Pick<ModelBundle, "maxLength" | "tokenizer"> & { vocabSize: number },
): TaskContext {
  return {
    numFewshot: options.numFewshot ?? null,
    seed: options.seed ?? 1234,
    limit: options.limit ?? null,
    vocabSize: model.vocabSize,
    maxLength: options.maxLength ?? model.maxLength,
    ...syntheticOptions(options.synthetic),
    tokenizer: model.tokenizer,
    addBos: model.tokenizer.addsBos(options.addBos ?? "auto"),
    dataDir: options.dataDir ?? null,
    download: options.download ?? true,
    prompting: prompting(options, model.tokenizer),
  };
}

type PromptingOptions = Pick<EvaluateOptions, "chatTemplate" | "fewshotAsMultiturn" | "systemInstruction">;

/**
 * The prompting of `options` for a model's tokenizer.
 *
 * @throws {UserError} when a chat template is asked for that the tokenizer does not have.
 */
export function prompting(options: PromptingOptions, tokenizer: TextTokenizer): Prompting {
  const systemInstruction = options.systemInstruction ?? null;
  if (!options.chatTemplate) return systemInstruction === null ? PLAIN : { ...PLAIN, systemInstruction };
  const template = tokenizer.chatTemplate(options.chatTemplate.name);
  return {
    systemInstruction,
    chat: (messages, addGenerationPrompt) => template.render(messages, addGenerationPrompt),
    fewshotAsMultiturn: options.fewshotAsMultiturn ?? true,
  };
}

/**
 * The prompt settings that change requests, for the request key and the run's record: null for
 * plain prompts, else the chat template (name and sha256 of its text), the few-shot layout and
 * the system instruction.
 */
export function promptingKey(
  options: PromptingOptions,
  tokenizer: TextTokenizer,
): Record<string, unknown> | null {
  const systemInstruction = options.systemInstruction ?? null;
  if (!options.chatTemplate && systemInstruction === null) return null;
  const template = options.chatTemplate ? tokenizer.chatTemplate(options.chatTemplate.name) : null;
  return {
    chatTemplate: template ? { name: template.name, sha256: template.sha256 } : null,
    fewshotAsMultiturn: template ? options.fewshotAsMultiturn ?? true : false,
    systemInstruction,
  };
}

/**
 * What a run records about the model, the software and the settings. The cache size is measured
 * on the model's own state tensors.
 */
export async function runInfo(
  bundle: ModelBundle,
  settings: Pick<RunInfo, "batchSize" | "seed" | "addBos" | "maxLength" | "args">,
): Promise<RunInfo> {
  const cache = await probeCache(bundle.model);
  return {
    modelName: bundle.name,
    modelDir: bundle.dir,
    modelSha256: bundle.sha256,
    family: bundle.sidecar.family ?? null,
    teacher: bundle.sidecar.teacher ?? null,
    tokenizerSha256: bundle.tokenizer.sha256,
    kvbenchCommit: kvbenchCommit(),
    denoVersion: Deno.version.deno,
    ortVersion: ort().version,
    device: bundle.model.device,
    dtype: bundle.sidecar.dtype ?? bundle.model.states[0]?.dtype ?? null,
    states: bundle.model.states,
    kvBytesPerToken: cache.bytesPerToken,
    fixedStateBytes: cache.fixedBytes,
    perDeviceKvBytesPerToken: bundle.sidecar.cache?.per_device_bytes_per_token ?? null,
    kvFormula: bundle.sidecar.cache?.bytes_per_token_formula ?? null,
    ...settings,
    // How prompts were fed, a fact about the graph: scores differ between the paths by rounding only.
    args: { ...(settings.args as Record<string, unknown>), feeding: feeding(bundle.model) },
  };
}

/** How a model is fed: chunked with shared-context scoring, or whole prompts for a restricted graph. */
export function feeding(model: OnnxModel): "chunked" | "whole-prompt" {
  return model.chunksAfterPast ? "chunked" : "whole-prompt";
}

/**
 * Measures the model's state on a 4-token forward call, so every run records its cache size
 * even when all of its samples are reused.
 */
export async function probeCache(model: OnnxModel): Promise<CacheMeasure> {
  const { logits, stream } = await Stream.start(model, 1).step(
    [[0, 1, 2, 3].map((t) => t % model.vocabSize)],
    "left",
  );
  const measured = stream.measureCache();
  logits.dispose();
  stream.dispose();
  return measured;
}

interface RunTaskOptions {
  requestKey: Record<string, unknown>;
  reuse: boolean;
  progress?: boolean;
  commitEvery: number;
  modelSha256: string;
  modelName: string;
  shard: Shard | null;
  genKwargs: GenKwargs | null;
}

async function runTask(
  task: Task,
  ctx: TaskContext,
  lm: LanguageModel,
  store: Store,
  runId: number,
  opts: RunTaskOptions,
): Promise<void> {
  const kwargs = opts.genKwargs;
  // Overridden before hashing, so a sample's identity says what was asked of the model.
  const every = (await task.prepare(ctx)).map((p) =>
    kwargs ? { ...p, requests: applyGenKwargs(p.requests, kwargs) } : p
  );
  // An empty task would aggregate to NaN and mark the run done: refuse it before the run claims a score.
  if (every.length === 0) {
    throw new UserError(
      `Cannot run ${task.name} as it has no samples under these settings: check --limit and --tasks`,
    );
  }
  // A shard takes whole documents, so few-shot contexts and prefix reuse stay the unsharded run's.
  const prepared = opts.shard
    ? shardItems(every.map((p) => estimatedTokens(p.requests)), opts.shard).map((i) => every[i])
    : every;
  const hashes = prepared.map((p) => requestHash(p.requests, opts.requestKey));
  const reusable = opts.reuse
    ? await store.reusableSamples(opts.modelSha256, task.name, task.version)
    : new Map();
  const reused: SampleRow[] = [];
  const todo: number[] = [];
  prepared.forEach((p, i) => {
    const hit = reusable.get(`${p.docId}:${hashes[i]}`);
    if (hit) {
      reused.push(sampleRow(task, p, hashes[i], hit.outputs as AnyResponse[], hit.metrics, hit.runId));
    } else {
      todo.push(i);
    }
  });
  await store.addSamples(runId, reused);
  const statsBefore = { ...lm.stats };
  const graphsBefore = lm.model.decodeGraphCount;
  lm.stats.maxStateBytes = 0;
  let peakRss = process.memoryUsage().rss;
  const totalRequests = todo.reduce((n, i) => n + prepared[i].requests.length, 0);
  const bar = startProgress(`${opts.modelName} ${task.name}`, totalRequests, opts.progress);
  try {
    for (let start = 0; start < todo.length; start += opts.commitEvery) {
      const part = todo.slice(start, start + opts.commitEvery);
      const requests: Request[] = part.flatMap((i) => prepared[i].requests);
      const responses = await lm.run(requests, (n) => bar.tick(n));
      let offset = 0;
      const rows = part.map((i) => {
        const p = prepared[i];
        const mine = responses.slice(offset, offset + p.requests.length);
        offset += p.requests.length;
        return sampleRow(task, p, hashes[i], mine, task.score(p, mine), null);
      });
      await store.addSamples(runId, rows);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      killIfAsked();
    }
  } finally {
    bar.stop();
  }
  const cache = lm.stats.cache;
  await store.addPerf(runId, {
    task: task.name,
    tokens: lm.stats.tokens - statsBefore.tokens,
    seconds: lm.stats.seconds - statsBefore.seconds,
    forwardCalls: lm.stats.calls - statsBefore.calls,
    peakRssBytes: peakRss,
    cacheBytesPerToken: cache?.bytesPerToken ?? null,
    fixedStateBytes: cache?.fixedBytes ?? null,
    device: lm.model.device,
    maxStateBytes: lm.stats.maxStateBytes > 0 ? lm.stats.maxStateBytes : null,
    decodeGraphs: lm.model.cudaGraphs ? Math.max(0, lm.model.decodeGraphCount - graphsBefore) : null,
  });
}

function sampleRow(
  task: Task,
  p: Prepared<unknown>,
  hash: string,
  outputs: readonly AnyResponse[],
  metrics: Record<string, unknown>,
  reusedFrom: number | null,
): SampleRow {
  const first = p.requests[0];
  const prompt = first === undefined
    ? ""
    : first.kind === "loglikelihood" || first.kind === "generate_until"
    ? first.context
    : first.kind === "loglikelihood_rolling"
    ? first.text
    : `<${first.tokens.length} token ids>`;
  return {
    task: task.name,
    taskVersion: task.version,
    docId: p.docId,
    requestHash: hash,
    prompt,
    target: p.target,
    doc: p.doc,
    requests: p.requests,
    outputs,
    metrics,
    numKvPairs: p.slices?.numKvPairs ?? null,
    contextLen: p.slices?.contextLen ?? null,
    depth: p.slices?.depth ?? null,
    reusedFrom,
  };
}

let committedBatches = 0;

/**
 * Crash-test hook: with KVBENCH_KILL_AFTER_BATCHES=N set, the process SIGKILLs itself after
 * committing N batches (or sends itself KVBENCH_KILL_SIGNAL, e.g. SIGINT, once), so tests can
 * prove that an interrupted run resumes with the same numbers.
 */
function killIfAsked(): void {
  const after = Number(Deno.env.get("KVBENCH_KILL_AFTER_BATCHES") ?? 0);
  const signal = (Deno.env.get("KVBENCH_KILL_SIGNAL") ?? "SIGKILL") as Deno.Signal;
  if (after > 0 && ++committedBatches === after) Deno.kill(Deno.pid, signal);
}

/** A request's identity: what it asks plus everything that changes the tokens it becomes. */
export function requestHash(requests: readonly Request[], key: Record<string, unknown>): string {
  return createHash("sha256").update(JSON.stringify({ requests, key })).digest("hex").slice(0, 32);
}

/** The metric of a task or group that counts in the run's average, or null. */
type Headlines = (entry: Task | TaskGroup) => string | null;

/**
 * The headline metric of each task or group that counts in the run's average (a suite's
 * `primary`, else the first metric), null for one that doesn't (a member of a group in the run).
 */
function headlines(selection: Pick<EvaluateOptions, "tasks" | "groups" | "primary" | "average">): Headlines {
  const members = new Set((selection.groups ?? []).flatMap((g) => g.tasks));
  const counted = new Set(
    selection.average ??
      [...selection.tasks.map((t) => t.name), ...(selection.groups ?? []).map((g) => g.name)]
        .filter((name) => !members.has(name)),
  );
  return (entry) => {
    if (!counted.has(entry.name)) return null;
    const first = Array.isArray(entry.metrics) ? entry.metrics[0] : Object.keys(entry.metrics)[0];
    return selection.primary?.[entry.name] ?? first;
  };
}

/**
 * Aggregates every task and group of `selection` from the samples stored under `runId`: what
 * `deno task merge` does once all shards' samples are in one run.
 */
export async function aggregateRun(
  store: Store,
  runId: number,
  selection: Pick<EvaluateOptions, "tasks" | "groups" | "primary" | "average">,
  numFewshot: number | null,
): Promise<ResultRow[]> {
  const primaryOf = headlines(selection);
  const results: ResultRow[] = [];
  for (const task of selection.tasks) {
    results.push(...(await aggregateTask(task, numFewshot, store, runId, primaryOf(task))));
  }
  results.push(...(await aggregateGroups(selection.groups ?? [], results, store, runId, primaryOf)));
  return results;
}

async function aggregateGroups(
  groups: readonly TaskGroup[],
  results: readonly ResultRow[],
  store: Store,
  runId: number,
  primaryOf: Headlines,
): Promise<ResultRow[]> {
  const out: ResultRow[] = [];
  for (const group of groups) {
    const rows = aggregateGroup(group, results, primaryOf(group));
    await store.setResults(runId, group.name, rows);
    out.push(...rows);
  }
  return out;
}

/** Aggregates a task's stored samples; `primary` is the metric that counts in the average, if any. */
async function aggregateTask(
  task: Task,
  fewshot: number | null,
  store: Store,
  runId: number,
  primary: string | null,
): Promise<ResultRow[]> {
  const samples = await store.samples(runId, task.name);
  const numFewshot = fewshot ?? task.defaultFewshot;
  const rows: ResultRow[] = [];
  const cells = new Map<string, Record<string, unknown>[]>();
  for (const s of samples) {
    if (s.num_kv_pairs === null && s.context_len === null && s.depth === null) continue;
    const key = `${s.num_kv_pairs}|${s.context_len}|${s.depth}`;
    const members = cells.get(key);
    if (members) members.push(s);
    else cells.set(key, [s]);
  }
  const groups: [Record<string, unknown>[], Record<string, unknown> | null][] = [[samples, null]];
  for (const members of cells.values()) groups.push([members, members[0]]);
  for (const [members, cell] of groups) {
    const metrics = members.map((s) => JSON.parse(s.metrics as string));
    for (const [metric, spec] of Object.entries(task.metrics)) {
      const agg = aggregate(metrics.map((m) => m[metric]), spec.aggregation);
      rows.push({
        task: task.name,
        metric,
        value: agg.value,
        stderr: agg.stderr,
        n: agg.n,
        numFewshot,
        taskVersion: task.version,
        numKvPairs: (cell?.num_kv_pairs as number | null) ?? null,
        contextLen: (cell?.context_len as number | null) ?? null,
        depth: (cell?.depth as number | null) ?? null,
        primary: cell === null && metric === primary,
      });
    }
  }
  await store.setResults(runId, task.name, rows);
  return rows;
}

/** A group's metrics: the size-weighted mean of its members, with lm-eval's pooled stderr. */
export function aggregateGroup(
  group: TaskGroup,
  results: readonly ResultRow[],
  primary: string | null = group.metrics[0],
): ResultRow[] {
  const rows: ResultRow[] = [];
  for (const metric of group.metrics) {
    const members = results.filter((r) =>
      group.tasks.includes(r.task) && r.metric === metric && r.numKvPairs == null && r.contextLen == null &&
      r.depth == null
    );
    if (members.length === 0) continue;
    const n = members.reduce((a, r) => a + r.n, 0);
    const value = members.reduce((a, r) => a + r.value * r.n, 0) / n;
    const stderrs = members.map((r) => r.stderr ?? 0);
    rows.push({
      task: group.name,
      metric,
      value,
      stderr: members.length > 1 ? pooledStderr(stderrs, members.map((r) => r.n)) : members[0].stderr,
      n,
      numFewshot: members[0].numFewshot,
      taskVersion: 0,
      primary: metric === primary,
    });
  }
  return rows;
}
