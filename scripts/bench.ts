/**
 * `deno task bench`: speed and memory of models on a device, written to the `perf` table and
 * printed as a markdown table for docs/BENCHMARKS.md.
 *
 *   deno task bench --model DIR[,DIR…] [--device cuda] [--contexts 4096,16384,32768]
 *                   [--decode 32] [--batches 1,16] [--prefill-chunk 1024] [--mc 64]
 *                   [--hbm-gbps N] [--db PATH] [--json FILE] [--tf32 on|off] [--prefix-reuse on|off]
 *
 * Per model and context length C (one sequence of seeded random ids), through the same engine
 * `deno task eval` runs on:
 * - prefill tokens/s: C tokens fed in `--prefill-chunk` chunks, the state on the device throughout;
 * - decode tokens/s at each batch size B of `--batches`: `--decode` greedy steps of B rows from
 *   the state at C (B > 1: the prefilled row copied B times on the device), after one untimed
 *   step (which captures the CUDA graph of a static cache's new buffers), with the achieved
 *   fraction of the card's memory bandwidth, (weights + B × state bytes) per step / step time /
 *   `--hbm-gbps` (default: the card's datasheet figure, from nvidia-smi's name);
 * - peak device memory of each row (nvidia-smi), with ONNX Runtime's arena shrunk after each row so
 *   a row's peak is its own (until a CUDA graph is captured: the arena then keeps its blocks, which
 *   the graphs write; the caches, the engine's own memory, are freed either way);
 * and once per model, loglikelihood scoring tokens/s on a multiple-choice-like mix (`--mc`
 * contexts of 128–384 tokens, 4 continuations of 1–8 tokens each, batch 8, prefix reuse where the
 * graph takes a chunk after a past or as `--prefix-reuse on|off` says), the mix
 * scripts/bench_torch.py scores for the PyTorch anchors: `score-mc-first` is a fresh process's first
 * pass (over a mix of its own), `score-mc` the next pass over a mix of new shapes, what a long eval
 * sees. A row that runs out of device memory is reported in one line and skipped. TF32 defaults to
 * off, as for `eval`.
 *
 * @module
 */

import process from "node:process";
import { execFileSync } from "node:child_process";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../core/errors.ts";
import { isOutOfMemory, LanguageModel } from "../evals/lm.ts";
import { inspectBundle, loadBundle, type ModelBundle } from "../evals/model/bundle.ts";
import type { Device } from "../evals/model/onnx_model.ts";
import { Stream } from "../evals/model/stream.ts";
import { Rng } from "../core/random.ts";
import { Store } from "../results/store.ts";
import { runInfo } from "../evals/evaluate.ts";
import { GpuMemorySampler } from "../evals/gpu_memory.ts";
import { parseFlags, runMain } from "./_main.ts";
import {
  DB_FLAG,
  DEVICE_FLAG,
  deviceFlag,
  type FlagTable,
  MODEL_FLAG,
  onOffFlag,
  TF32_FLAG,
} from "../evals/flags.ts";
import { MC_SEED, mcMix } from "./_mc_mix.ts";
import { KVBENCH_VERSION, kvbenchCommit } from "../evals/version.ts";
import { ort } from "../evals/model/ort/api.ts";

/** One measured row. */
interface BenchRow {
  model: string;
  work: "prefill" | "decode" | "score-mc-first" | "score-mc";
  context: number | null;
  batch: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  kvBytesPerToken: number;
  /** State bytes of all rows at the end of the measurement. */
  stateBytes: number;
  /** Decode only: (weights + state) bytes read per step / step time / peak bandwidth. */
  bandwidthFraction: number | null;
  /**
   * Decode only: the median step in ms (the mean is seconds / steps). A loaded host's stalls move the
   * mean and barely the median.
   */
  stepMsMedian: number | null;
  peakRssBytes: number;
  /** Device memory in use at its highest during this measurement (nvidia-smi), null where not sampled. */
  peakGpuBytes: number | null;
}

interface BenchOptions {
  device: Device;
  contexts: number[];
  decodeSteps: number;
  batches: number[];
  chunk: number;
  mc: number;
  hbmBytesPerSecond: number | null;
  /** Score the mix with prefix reuse (true/false), or as LanguageModel's default has it (undefined). */
  prefixReuse?: boolean;
}

const BENCH_FLAGS = {
  model: MODEL_FLAG,
  device: DEVICE_FLAG,
  contexts: {
    type: "string",
    value: "A,B",
    default: "4096,16384,32768",
    help: "prompt lengths (default: 4096,16384,32768)",
  },
  decode: {
    type: "string",
    value: "N",
    default: "32",
    help: "greedy steps timed at each batch size (default: 32)",
  },
  batches: { type: "string", value: "A,B", default: "1,16", help: "decode batch sizes (default: 1,16)" },
  "prefill-chunk": {
    type: "string",
    value: "N",
    default: "1024",
    help: "prompt tokens per forward call (default: 1024)",
  },
  mc: {
    type: "string",
    value: "N",
    default: "64",
    help: "contexts in the scoring mix, 4 continuations each; 0 skips it (default: 64)",
  },
  "hbm-gbps": {
    type: "string",
    value: "N",
    help: "the card's memory bandwidth (default: its datasheet figure, by nvidia-smi's name)",
  },
  db: DB_FLAG,
  json: { type: "string", value: "FILE", help: "also write the rows, versions and settings here" },
  tf32: TF32_FLAG,
  "prefix-reuse": {
    type: "string",
    value: "on|off",
    help:
      "score the mix with prefix reuse or without (default: with, where the graph takes a chunk after a past)",
  },
} as const satisfies FlagTable;

const BENCH_HELP = "Usage: deno task bench --model DIR[,DIR…] [options]\n\n" +
  "Prefill, decode (each batch size) and scoring tokens/s, state bytes and peak memory, into the perf table.";

/** Datasheet HBM bandwidth by card name (SXM parts), bytes/s. */
const HBM: [RegExp, number][] = [[/H200/, 4.8e12], [/H100/, 3.35e12], [/A100/, 2.039e12]];

function positiveList(flag: string, text: string): number[] {
  const values = text.split(",").map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new UserError(`--${flag} must be positive integers separated by commas (got "${text}")`);
  }
  return values;
}

function parseBenchArgs(
  args: string[],
): null | ({ models: string[]; db: string; json?: string; tf32: boolean } & BenchOptions) {
  const values = parseFlags(args, BENCH_FLAGS, BENCH_HELP);
  if (values === null) return null;
  if (!values.model) throw new UserError("Cannot bench without --model DIR[,DIR…]");
  const device = deviceFlag(values.device);
  const tf32 = onOffFlag("tf32", values.tf32, false);
  const [decodeSteps] = positiveList("decode", values.decode!);
  const [chunk] = positiveList("prefill-chunk", values["prefill-chunk"]!);
  const mc = Number(values.mc);
  if (!Number.isInteger(mc) || mc < 0) {
    throw new UserError(`--mc must be a whole number (got "${values.mc}")`);
  }
  let hbm: number | null = null;
  if (values["hbm-gbps"] !== undefined) {
    hbm = Number(values["hbm-gbps"]) * 1e9;
    if (!(hbm > 0)) throw new UserError(`--hbm-gbps must be a positive number (got "${values["hbm-gbps"]}")`);
  }
  const reuse = values["prefix-reuse"];
  return {
    models: values.model.split(","),
    ...(reuse === undefined ? {} : { prefixReuse: onOffFlag("prefix-reuse", reuse, false) }),
    device,
    contexts: positiveList("contexts", values.contexts!),
    decodeSteps,
    batches: positiveList("batches", values.batches!),
    chunk,
    mc,
    hbmBytesPerSecond: hbm,
    db: values.db!,
    json: values.json,
    tf32,
  };
}

/** The median of `values` (the mean of the middle two for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The card's datasheet bandwidth, from nvidia-smi's name; null when unknown. */
function cardBandwidth(index: number): number | null {
  try {
    const name = execFileSync("nvidia-smi", [
      "--query-gpu=name",
      "--format=csv,noheader",
      `-i`,
      String(index),
    ], {
      encoding: "utf8",
    });
    return HBM.find(([pattern]) => pattern.test(name))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Bytes of the model's graph and external weight files: what a decode step reads besides the state. */
function weightBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f === "model.onnx" || /\.onnx[._]data$|\.onnx_data$|^model\.onnx\.data$/.test(f))
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** Runs a measurement; on out-of-memory, says so in one line and returns null. */
async function skipOnOutOfMemory<T>(label: string, measure: () => Promise<T>): Promise<T | null> {
  try {
    return await measure();
  } catch (error) {
    if (!isOutOfMemory(error)) throw error;
    const reason = String((error as Error).message ?? error).split("\n")[0].slice(-160);
    console.error(`${label}: skipped, out of device memory (${reason})`);
    return null;
  }
}

/** Gives the device arena's unused memory back, so the next row's peak is its own. */
function trimArena(bundle: ModelBundle): Promise<void> {
  return bundle.model.trimArena();
}

/** Decode steps of each batch run before its timer starts (see the decode loop). */
const UNTIMED_STEPS = 1;

/** Measures one model: prefill and decode per context, then the scoring mix. */
async function benchModel(
  bundle: ModelBundle,
  o: BenchOptions,
  record: (
    row: Omit<BenchRow, "model" | "tokensPerSecond" | "peakRssBytes" | "peakGpuBytes">,
  ) => Promise<void>,
  begin: () => number,
): Promise<void> {
  const model = bundle.model;
  const weights = weightBytes(bundle.dir);
  // Warm-up: session initialisation, arena growth and kernel selection stay out of the numbers. As
  // bench_torch.py's, it covers a full chunk and a partial one (an 8-token warm-up left the first
  // context's prefill paying for its chunks' first run), then a decode step.
  const warmLength = Math.min(o.chunk + 8, bundle.maxLength - 1);
  const warmIds = Array.from({ length: warmLength }, (_, i) => 3 + (i % (model.vocabSize - 3)));
  const warm = await Stream.start(model, 1).prefill([warmIds], o.chunk, undefined, 1);
  await warm.logits.lastArgmax();
  warm.logits.dispose();
  const warmStep = await warm.stream.step([[9]], "left");
  await warmStep.logits.lastArgmax();
  warmStep.logits.dispose();
  warmStep.stream.dispose();
  warm.stream.dispose();
  let kv = 0;
  for (const context of o.contexts) {
    const rng = new Rng(context);
    const prompt = Array.from({ length: context }, () => rng.int(3, model.vocabSize));
    let started = begin();
    const prefilled = await skipOnOutOfMemory(
      `prefill@${context}`,
      // Room for the decode steps: a static cache is then sized once.
      () => Stream.start(model, 1).prefill([prompt], o.chunk, undefined, o.decodeSteps + UNTIMED_STEPS),
    );
    if (prefilled === null) {
      await trimArena(bundle);
      continue;
    }
    const cache = prefilled.stream.measureCache();
    kv = cache.bytesPerToken;
    const perSequence = (tokens: number) => cache.bytesPerToken * tokens + cache.fixedBytes;
    await record({
      work: "prefill",
      context,
      batch: 1,
      tokens: context,
      seconds: (performance.now() - started) / 1000,
      kvBytesPerToken: kv,
      stateBytes: perSequence(context),
      bandwidthFraction: null,
      stepMsMedian: null,
    });
    const [first] = await prefilled.logits.lastArgmax();
    prefilled.logits.dispose();
    for (const batch of o.batches) {
      started = begin();
      const steps: number[] = [];
      const seconds = await skipOnOutOfMemory(`decode@${context}×${batch}`, async () => {
        // A copy for every batch size: a step may take over its stream's (static) cache.
        let stream = prefilled.stream.select(new Array(batch).fill(0));
        let tokens = new Array(batch).fill(first);
        const step = async () => {
          const next = await stream.step(tokens.map((t) => [t]), "left");
          stream.dispose();
          stream = next.stream;
          tokens = await next.logits.lastArgmax();
          next.logits.dispose();
        };
        // The first step in new buffers captures their CUDA graph (three runs and the capture):
        // a cost per generation, not per token, kept out of the rate.
        for (let i = 0; i < UNTIMED_STEPS; i++) await step();
        started = begin();
        for (let i = 0; i < o.decodeSteps; i++) {
          const stepStarted = performance.now();
          await step();
          steps.push(performance.now() - stepStarted);
        }
        const elapsed = (performance.now() - started) / 1000;
        stream.dispose();
        return elapsed;
      });
      if (seconds === null) continue;
      // Each step reads the weights once and every row's state (at its mean length over the steps).
      const stateRead = batch * perSequence(context + UNTIMED_STEPS + o.decodeSteps / 2);
      await record({
        work: "decode",
        context,
        batch,
        tokens: batch * o.decodeSteps,
        seconds,
        kvBytesPerToken: kv,
        stateBytes: batch * perSequence(context + UNTIMED_STEPS + o.decodeSteps),
        bandwidthFraction: o.hbmBytesPerSecond === null
          ? null
          : (weights + stateRead) / (seconds / o.decodeSteps) / o.hbmBytesPerSecond,
        stepMsMedian: median(steps),
      });
    }
    prefilled.stream.dispose();
    await trimArena(bundle);
  }
  if (o.mc > 0) {
    // Within the model's positions (a tiny fixture has 256; the mix's rows are up to 392 tokens).
    const lm = new LanguageModel(model, bundle.tokenizer, {
      batchSize: 8,
      maxLength: Math.min(4096, bundle.maxLength),
      ...(o.prefixReuse === undefined ? {} : { prefixReuse: o.prefixReuse }),
    });
    // A fresh process's first pass pays for what later ones find ready (the arenas' growth, each
    // session's first runs); a long eval pays it once. So the first pass scores
    // a mix of its own, and the timed one a mix whose shapes it has not seen, as a long eval's
    // next batches are.
    for (const [work, seed] of [["score-mc-first", MC_SEED + 1], ["score-mc", MC_SEED]] as const) {
      const { pairs, contextTokens } = mcMix(o.mc, model.vocabSize, seed);
      const started = begin();
      await lm.loglikelihoodTokens(pairs);
      await record({
        work,
        context: null,
        batch: 8,
        tokens: contextTokens + pairs.reduce((n, p) => n + p.continuation.length, 0),
        seconds: (performance.now() - started) / 1000,
        kvBytesPerToken: kv,
        stateBytes: 0,
        bandwidthFraction: null,
        stepMsMedian: null,
      });
    }
  }
}

function markdown(rows: readonly BenchRow[]): string {
  return [
    "| model | work | context | batch | tokens/s | ms/step | median ms/step | HBM fraction | KV B/token | state MiB | peak GPU MiB |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) => {
      const msPerStep = r.work === "decode" ? (1000 * r.seconds / (r.tokens / r.batch)).toFixed(2) : "";
      return `| ${r.model} | ${r.work} | ${r.context ?? ""} | ${r.batch} | ${
        r.tokensPerSecond.toFixed(1)
      } | ${msPerStep} | ${r.stepMsMedian === null ? "" : r.stepMsMedian.toFixed(2)} | ${
        r.bandwidthFraction === null ? "" : r.bandwidthFraction.toFixed(2)
      } | ${r.kvBytesPerToken} | ${(r.stateBytes / 2 ** 20).toFixed(1)} | ${
        r.peakGpuBytes === null ? "" : (r.peakGpuBytes / 2 ** 20).toFixed(0)
      } |`;
    }),
  ].join("\n");
}

/**
 * Refuses, before any model runs, a context that leaves no room for the decode steps within a model's
 * positions: past them a graph reads beyond its RoPE table (a static one refuses; others may not).
 */
function checkPositions(o: BenchOptions & { models: string[] }): void {
  for (const dir of o.models) {
    const { maxLength, name } = inspectBundle(dir);
    const longest = Math.max(...o.contexts);
    const steps = o.decodeSteps + UNTIMED_STEPS;
    if (longest + steps > maxLength) {
      throw new UserError(
        `Cannot bench ${name} at a context of ${longest}: with ${o.decodeSteps} decode steps and ` +
          `${UNTIMED_STEPS} untimed before them it needs ` +
          `${longest + steps} positions and the model has ${maxLength}: pass --contexts of at most ` +
          `${maxLength - steps}`,
      );
    }
  }
}

if (import.meta.main) {
  await runMain(async () => {
    const o = parseBenchArgs(Deno.args);
    if (o === null) return;
    checkPositions(o);
    const store = await Store.open(o.db);
    // ONNX Runtime numbers the visible devices from 0; nvidia-smi numbers them all.
    const visible = Number((Deno.env.get("CUDA_VISIBLE_DEVICES") ?? "0").split(",")[0]);
    const gpu = Number.isInteger(visible) ? visible : 0;
    const sampler = o.device === "cuda" ? GpuMemorySampler.start(gpu) : null;
    if (o.device === "cuda" && o.hbmBytesPerSecond === null) o.hbmBytesPerSecond = cardBandwidth(gpu);
    const begin = () => {
      sampler?.reset();
      return performance.now();
    };
    const rows: BenchRow[] = [];
    try {
      for (const dir of o.models) {
        const bundle = await loadBundle(dir, o.device, { tf32: o.tf32 });
        const runId = await store.startRun(
          await runInfo(bundle, {
            batchSize: 1,
            seed: 0,
            addBos: false,
            maxLength: Math.max(...o.contexts) + o.decodeSteps + UNTIMED_STEPS,
            args: { ...o, bench: true },
          }),
        );
        await benchModel(bundle, o, async (row) => {
          const full: BenchRow = {
            ...row,
            model: bundle.name,
            tokensPerSecond: row.tokens / row.seconds,
            peakRssBytes: process.memoryUsage().rss,
            peakGpuBytes: sampler?.take() ?? null,
          };
          rows.push(full);
          console.error(
            `${full.model} ${full.work}${full.context ? `@${full.context}` : ""}×${full.batch}: ${
              full.tokensPerSecond.toFixed(1)
            } tok/s`,
          );
          await store.addPerf(runId, {
            task: `bench/${row.work}${row.context ? `@${row.context}` : ""}${
              row.batch > 1 ? `x${row.batch}` : ""
            }`,
            tokens: row.tokens,
            seconds: row.seconds,
            forwardCalls: 0,
            peakRssBytes: full.peakRssBytes,
            peakGpuBytes: full.peakGpuBytes,
            bandwidthFraction: row.bandwidthFraction,
            stepMsMedian: row.stepMsMedian,
            cacheBytesPerToken: row.kvBytesPerToken,
            fixedStateBytes: 0,
            maxStateBytes: row.stateBytes,
            device: o.device,
          });
        }, begin);
        await store.finishRun(runId, "done");
        await bundle.model.release();
      }
    } finally {
      await sampler?.stop();
      store.close();
    }
    console.log(markdown(rows));
    if (o.json) {
      writeFileSync(
        o.json,
        JSON.stringify(
          {
            device: o.device,
            date: new Date().toISOString(),
            versions: {
              kvbench: KVBENCH_VERSION,
              commit: kvbenchCommit(),
              onnxruntime: ort().version,
              deno: Deno.version.deno,
            },
            settings: {
              contexts: o.contexts,
              decodeSteps: o.decodeSteps,
              batches: o.batches,
              prefillChunk: o.chunk,
              mc: o.mc,
              tf32: o.tf32,
              prefixReuse: o.prefixReuse ?? "model default",
            },
            rows,
          },
          null,
          2,
        ),
      );
    }
  });
}
