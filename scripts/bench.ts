/**
 * `deno task bench`: speed and memory of models on a device, written to the `perf` table and
 * printed as a markdown table for docs/BENCHMARKS.md.
 *
 *   deno task bench --model DIR[,DIR…] [--device cuda] [--contexts 4096,16384,32768]
 *                   [--decode 32] [--host-decode N] [--prefill-chunk 1024] [--mc 64] [--db PATH] [--json FILE]
 *                   [--state-location cpu|cpu-pinned|gpu-buffer] [--decode-loop] [--prefill-loop]
 *                   [--no-prefix-reuse] [--score-graph] [--tf32 on|off]
 *
 * Per model and context length C (one sequence of seeded random ids):
 * - prefill tokens/s: C tokens fed in chunks (so no C × vocab logits tensor is needed);
 * - decode tokens/s: `--decode` greedy single-token steps from the state at C (`--host-decode N`
 *   steps on this host-state path instead, where long contexts make each step slow);
 * - state bytes: measured on the state tensors at C (growing per token, fixed per sequence);
 * - with `--decode-loop`, the same greedy steps again through the model's `decode_loop.onnx`
 *   (scripts/export_decode_loop.py), where the state never leaves onnxruntime between tokens;
 * - with `--prefill-loop`, the same prompt again through `prefill_loop.onnx` (`--prefill`), whose
 *   chunks keep the state inside onnxruntime too;
 * and once per model, loglikelihood scoring tokens/s on a multiple-choice-like mix (`--mc`
 * contexts of 128–384 tokens, 4 continuations of 1–8 tokens each, batch 8, prefix reuse; with
 * `--no-prefix-reuse` each request alone, as lm-eval does, recorded as `score-mc-plain`).
 * With `--score-graph` the mix is scored again through the model's `score.onnx` (`score-mc-graph`:
 * each batch of contexts and its continuations in one call, only log-probabilities back), and
 * its numbers are compared with the stepped scoring's. `--tf32` (default on, onnxruntime's own
 * default, as speed is what this measures) lets CUDA round float32 products to TF32.
 * `--state-location` says where the state goes between calls (see {@linkcode StateLocation});
 * `gpu-buffer` streams can't select rows, so it skips the scoring mix.
 *
 * @module
 */

import { parseArgs } from "node:util";
import process from "node:process";
import { writeFileSync } from "node:fs";
import { UserError } from "../evals/errors.ts";
import { argmax, isOutOfMemory, LanguageModel } from "../evals/lm.ts";
import { loadBundle } from "../evals/model/bundle.ts";
import type { Device, StateLocation } from "../evals/model/onnx_model.ts";
import { DecodeLoop, PrefillLoop } from "../evals/model/decode_loop.ts";
import { ScoreGraph } from "../evals/model/score_graph.ts";
import { Stream } from "../evals/model/stream.ts";
import { Rng } from "../evals/random.ts";
import { DEFAULT_DB, Store } from "../results/store.ts";
import { runInfo } from "../evals/evaluate.ts";
import { GpuMemorySampler } from "../evals/gpu_memory.ts";
import { runMain } from "./_main.ts";
import { mcMix } from "./_mc_mix.ts";

/** One measured row. */
interface BenchRow {
  model: string;
  work: string;
  stateLocation: StateLocation;
  context: number | null;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  kvBytesPerToken: number;
  stateBytes: number;
  peakRssBytes: number;
  /** Device memory in use at its highest during this measurement (nvidia-smi), null where not sampled. */
  peakGpuBytes: number | null;
}

await runMain(async () => {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      device: { type: "string", default: "cpu" },
      contexts: { type: "string", default: "4096,16384,32768" },
      decode: { type: "string", default: "32" },
      "host-decode": { type: "string" },
      "prefill-chunk": { type: "string", default: "1024" },
      mc: { type: "string", default: "64" },
      db: { type: "string", default: DEFAULT_DB },
      json: { type: "string" },
      "state-location": { type: "string", default: "cpu" },
      "decode-loop": { type: "boolean", default: false },
      "prefill-loop": { type: "boolean", default: false },
      "no-prefix-reuse": { type: "boolean", default: false },
      "score-graph": { type: "boolean", default: false },
      tf32: { type: "string", default: "on" },
    },
    strict: true,
  });
  if (!values.model) throw new UserError("Cannot bench without --model DIR[,DIR…]");
  const device = values.device as Device;
  if (!["cpu", "cuda", "webgpu"].includes(device)) {
    throw new UserError("--device must be cpu, cuda or webgpu");
  }
  const stateLocation = values["state-location"] as StateLocation;
  if (!["cpu", "cpu-pinned", "gpu-buffer"].includes(stateLocation)) {
    throw new UserError("--state-location must be cpu, cpu-pinned or gpu-buffer");
  }
  if ((values["decode-loop"] || values["prefill-loop"]) && stateLocation === "gpu-buffer") {
    throw new UserError(
      "Cannot use --decode-loop or --prefill-loop with --state-location gpu-buffer: the loops take host-held state",
    );
  }
  if (!["on", "off"].includes(values.tf32!)) {
    throw new UserError(`--tf32 must be on or off (got "${values.tf32}")`);
  }
  const contexts = values.contexts!.split(",").map(Number);
  const decodeSteps = Number(values.decode);
  const hostSteps = values["host-decode"] === undefined ? decodeSteps : Number(values["host-decode"]);
  if (!Number.isInteger(decodeSteps) || decodeSteps < 1 || !Number.isInteger(hostSteps) || hostSteps < 1) {
    throw new UserError("--decode and --host-decode must be positive integers");
  }
  const chunk = Number(values["prefill-chunk"]);
  // Row selection (prefix reuse) needs host-held state.
  const mc = stateLocation === "gpu-buffer" ? 0 : Number(values.mc);
  const store = await Store.open(values.db!);
  // Device memory comes from nvidia-smi (CUDA only); ORT indexes the visible devices from 0.
  const visible = Number((Deno.env.get("CUDA_VISIBLE_DEVICES") ?? "0").split(",")[0]);
  const sampler = device === "cuda" ? GpuMemorySampler.start(Number.isInteger(visible) ? visible : 0) : null;
  /** Starts a measurement: the clock, and the GPU peak from here on. */
  const begin = () => {
    sampler?.reset();
    return performance.now();
  };
  const rows: BenchRow[] = [];
  try {
    for (const dir of values.model.split(",")) {
      const bundle = await loadBundle(dir, device, { stateLocation, tf32: values.tf32 === "on" });
      const model = bundle.model;
      const loop = values["decode-loop"] ? await DecodeLoop.load(model) : null;
      const prefillLoop = values["prefill-loop"] ? await PrefillLoop.load(model) : null;
      const scoreGraph = values["score-graph"] && mc > 0 ? await ScoreGraph.load(model) : null;
      const runId = await store.startRun(
        await runInfo(bundle, {
          batchSize: 1,
          seed: 0,
          addBos: false,
          maxLength: Math.max(...contexts) + decodeSteps,
          args: { ...values, bench: true },
        }),
      );
      const record = async (
        row: Omit<BenchRow, "model" | "tokensPerSecond" | "peakRssBytes" | "peakGpuBytes" | "stateLocation">,
      ) => {
        const full: BenchRow = {
          ...row,
          model: bundle.name,
          stateLocation,
          tokensPerSecond: row.tokens / row.seconds,
          peakRssBytes: process.memoryUsage().rss,
          peakGpuBytes: sampler?.take() ?? null,
        };
        rows.push(full);
        console.error(
          `${full.model} ${full.work}${full.context ? `@${full.context}` : ""}: ${
            full.tokensPerSecond.toFixed(1)
          } tok/s`,
        );
        await store.addPerf(runId, {
          task: `bench/${row.work}${stateLocation === "cpu" ? "" : `+${stateLocation}`}${
            row.context ? `@${row.context}` : ""
          }`,
          tokens: row.tokens,
          seconds: row.seconds,
          forwardCalls: 0,
          peakRssBytes: full.peakRssBytes,
          peakGpuBytes: full.peakGpuBytes,
          cacheBytesPerToken: row.kvBytesPerToken,
          fixedStateBytes: fixed,
          maxStateBytes: row.stateBytes,
          device,
        });
      };
      // Warm-up: session initialisation and kernel selection stay out of the numbers.
      const warm = await Stream.start(model, 1).prefill([[1, 2, 3, 4, 5, 6, 7, 8]], chunk);
      if (loop) await loop.generate(warm.stream, [argmax(warm.logits.last(0))], 2);
      if (prefillLoop) await prefillLoop.prefill(Stream.start(model, 1), [[1, 2, 3, 4, 5, 6, 7, 8]], chunk);
      warm.stream.dispose();
      let kv = 0;
      let fixed = 0;
      for (const context of contexts) {
        const rng = new Rng(context);
        const prompt = Array.from({ length: context }, () => rng.int(3, model.vocabSize));
        let started = begin();
        let { logits, stream } = await Stream.start(model, 1).prefill([prompt], chunk);
        const prefillSeconds = (performance.now() - started) / 1000;
        const cache = stream.measureCache();
        kv = cache.bytesPerToken;
        fixed = cache.fixedBytes;
        const stateBytes = cache.bytesPerToken * context + cache.fixedBytes;
        await record({
          work: "prefill",
          context,
          tokens: context,
          seconds: prefillSeconds,
          kvBytesPerToken: kv,
          stateBytes,
        });
        const afterPrefill = { logits, stream };
        const stepTokens: number[] = [];
        started = begin();
        for (let i = 0; i < hostSteps; i++) {
          const previous = stream;
          stepTokens.push(argmax(logits.last(0)));
          ({ logits, stream } = await stream.step([[stepTokens.at(-1)!]], "left"));
          if (previous !== afterPrefill.stream) previous.dispose();
        }
        const decodeSeconds = (performance.now() - started) / 1000;
        await record({
          work: "decode",
          context,
          tokens: hostSteps,
          seconds: decodeSeconds,
          kvBytesPerToken: kv,
          stateBytes: stream.measureCache().bytesPerToken * stream.pastLen + fixed,
        });
        if (stream !== afterPrefill.stream) stream.dispose();
        if (loop) {
          started = begin();
          const [looped] = await loop.generate(afterPrefill.stream, [stepTokens[0]], decodeSteps);
          const seconds = (performance.now() - started) / 1000;
          // The loop feeds the same first token, so its tokens should be the stepped ones shifted by one.
          const compared = Math.min(decodeSteps, hostSteps) - 1;
          const agree = looped.slice(0, compared).filter((t, i) => t === stepTokens[i + 1]).length;
          console.error(`decode-loop@${context}: ${agree}/${compared} tokens as stepped decode`);
          await record({
            work: "decode-loop",
            context,
            tokens: decodeSteps,
            seconds,
            kvBytesPerToken: kv,
            stateBytes: kv * (context + decodeSteps) + fixed,
          });
        }
        if (prefillLoop) {
          started = begin();
          // The loop runs out of device memory before stepping does on some graphs (onnxruntime's
          // arena inside a Loop): say so and go on with the other measurements.
          const looped = await skipOnOutOfMemory(
            `prefill-loop@${context}`,
            () => prefillLoop.prefill(Stream.start(model, 1), [prompt], chunk),
          );
          if (looped === null) {
            afterPrefill.stream.dispose();
            continue;
          }
          const seconds = (performance.now() - started) / 1000;
          const a = looped.logits.last(0);
          const b = afterPrefill.logits.last(0);
          const gap = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
          console.error(
            `prefill-loop@${context}: last logits within ${gap.toExponential(2)} of the stepped prefill's`,
          );
          await record({
            work: "prefill-loop",
            context,
            tokens: context,
            seconds,
            kvBytesPerToken: kv,
            stateBytes,
          });
        }
        afterPrefill.stream.dispose();
      }
      if (mc > 0) {
        const { pairs, contextTokens } = mcMix(mc, model.vocabSize);
        const prefixReuse = !values["no-prefix-reuse"];
        const lm = new LanguageModel(model, bundle.tokenizer, { batchSize: 8, maxLength: 4096, prefixReuse });
        let started = begin();
        const reference = await lm.loglikelihoodTokens(pairs);
        let seconds = (performance.now() - started) / 1000;
        const tokens = contextTokens + pairs.reduce((n, p) => n + p.continuation.length, 0);
        await record({
          work: prefixReuse ? "score-mc" : "score-mc-plain",
          context: null,
          tokens,
          seconds,
          kvBytesPerToken: kv,
          stateBytes: 0,
        });
        if (scoreGraph) {
          const graphed = new LanguageModel(model, bundle.tokenizer, {
            batchSize: 8,
            maxLength: 4096,
            scoreGraph,
          });
          await graphed.loglikelihoodTokens(pairs.slice(0, 8)); // warm-up: its shapes' kernels
          started = begin();
          const scores = await graphed.loglikelihoodTokens(pairs);
          seconds = (performance.now() - started) / 1000;
          const gap = scores.reduce((m, r, i) => Math.max(m, Math.abs(r.logprob - reference[i].logprob)), 0);
          const same = scores.filter((r, i) => r.isGreedy === reference[i].isGreedy).length;
          console.error(
            `score-mc-graph: log-probs within ${gap.toExponential(2)} of the stepped scoring's; ` +
              `greedy flags ${same}/${scores.length} the same`,
          );
          await record({
            work: "score-mc-graph",
            context: null,
            tokens,
            seconds,
            kvBytesPerToken: kv,
            stateBytes: 0,
          });
        }
      }
      await store.finishRun(runId, "done");
      await loop?.release();
      await prefillLoop?.release();
      await scoreGraph?.release();
      await model.release();
    }
  } finally {
    await sampler?.stop();
    store.close();
  }
  const table = [
    "| model | work | state | context | tokens/s | KV B/token | state bytes | peak RSS (MiB) | peak GPU (MiB) |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.model} | ${r.work} | ${r.stateLocation} | ${r.context ?? ""} | ${
        r.tokensPerSecond.toFixed(1)
      } | ${r.kvBytesPerToken} | ${r.stateBytes} | ${(r.peakRssBytes / 2 ** 20).toFixed(0)} | ${
        r.peakGpuBytes === null ? "" : (r.peakGpuBytes / 2 ** 20).toFixed(0)
      } |`
    ),
  ].join("\n");
  console.log(table);
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ device, date: new Date().toISOString(), rows }, null, 2));
  }
});

/** Runs an optional measurement; on out-of-memory, says so in one line and returns null. */
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
