/**
 * Executes requests against a model: batching, prefix reuse, greedy generation. Scores are the
 * float32 log-softmax over the full vocabulary, computed on the model's device by the logits head
 * (`model/logits_head.ts`); only the picked values come back.
 *
 * @module
 */

import type { OnnxModel, Picked } from "./model/onnx_model.ts";
import { type CacheMeasure, type StepLogits, Stream, type TokenPick } from "./model/stream.ts";
import type { TextTokenizer } from "./model/tokenizer.ts";
import type { CachePolicy } from "./model/cache_policy.ts";
import {
  type AnyResponse,
  encodePair,
  type GenerateRequest,
  type GenerateResponse,
  type LoglikelihoodResponse,
  type Request,
  rollingWindows,
  type TokenArgmaxRequest,
  type TokenArgmaxResponse,
  type TokenPair,
} from "../core/requests.ts";

/** Options of a {@linkcode LanguageModel}. */
export interface LmOptions {
  /**
   * Rows per forward call; with `autoBatch`, the size to start from. With prefix reuse, the
   * contexts per call, whose continuations go in calls of up to 4 × this many rows. @default {8}
   */
  batchSize?: number;
  /** Halve the batch and retry when the device runs out of memory. @default {false} */
  autoBatch?: boolean;
  /** Longest token sequence fed to the model. @default {2048} */
  maxLength?: number;
  /** Whether text is encoded with a leading BOS. @default {false} */
  addBos?: boolean;
  /**
   * Run a shared context once and score its continuations from copies of its state. @default {true}
   * (always off for a graph that takes no chunk after a past: see `OnnxModel.chunksAfterPast`)
   */
  prefixReuse?: boolean;
  /** Feed long prompts in chunks of this many tokens (0: whole). @default {0} */
  prefillChunk?: number;
  /**
   * Put only rows of one length in a forward call, so no row is padded and its arithmetic does not
   * depend on its neighbours: scores are then bit-identical across batch sizes on CPU. CUDA's
   * kernels pick their algorithms by shape, so there it would cost speed and not buy identity.
   * @default {true on CPU, false on CUDA}
   */
  sameLengthBatches?: boolean;
  /**
   * Rewrites each prompt's state after its prefill (xKV, …): generation and shared-context scoring
   * continue from the rewritten state, and a token-argmax request (MQAR) is split before its first
   * read position, so its queries run against the rewritten state of what precedes them.
   * @default {null}
   */
  cachePolicy?: CachePolicy | null;
}

/** Work counters of a language model, for the perf table. */
export interface LmStats {
  /** Real tokens fed to the model. */
  tokens: number;
  /** Seconds spent in forward calls. */
  seconds: number;
  /** Forward calls made. */
  calls: number;
  /** The state measured after the last prefill, if any. */
  cache: CacheMeasure | null;
  /** The largest state one sequence held (growing states at its length plus fixed states), in bytes. */
  maxStateBytes: number;
}

/**
 * Continuation rows per forward call, per context of a batch: the continuations of a batch of
 * contexts with up to this many choices each go in one call. Such a call is a few tokens a row, so
 * its ~1,000 kernel launches weigh more than its rows (on an H100, 1B model: a 32-row call took
 * 20 ms where a one-token step took 12 ms), and fewer, fuller calls are what makes shared-context
 * scoring fast; its rows hold copies of their context's state, about what the context call held per row.
 */
const CONTINUATIONS_PER_CONTEXT = 4;

/** A model plus tokenizer that answers lm-eval-style requests. */
export class LanguageModel {
  /** The ONNX model. */
  readonly model: OnnxModel;
  /** The tokenizer, absent for token-only models. */
  readonly tokenizer: TextTokenizer | null;
  /** Effective options. */
  readonly options: Required<LmOptions>;
  /** Counters since construction. */
  readonly stats: LmStats = { tokens: 0, seconds: 0, calls: 0, cache: null, maxStateBytes: 0 };
  /** Rows per forward call now (smaller than asked after an out-of-memory back-off). */
  batchSize: number;
  /**
   * With prefix reuse, continuation rows per forward call now: {@linkcode CONTINUATIONS_PER_CONTEXT}
   * × the batch size, halved with it after an out-of-memory back-off.
   */
  continuationRows: number;

  /** Wraps a loaded model and tokenizer. */
  constructor(model: OnnxModel, tokenizer: TextTokenizer | null, options: LmOptions = {}) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.options = {
      batchSize: options.batchSize ?? 8,
      autoBatch: options.autoBatch ?? false,
      maxLength: options.maxLength ?? 2048,
      addBos: options.addBos ?? false,
      // Continuations of several tokens after a shared context's state are chunks after a past,
      // which a static cache runs through its export's scoring graph, or else a position at a time
      // across rows (see StaticCacheRuns): on an H100 (1B GQA) reuse scored bench's mix 1.34–1.47×
      // as fast as whole rows position by position, 2.50–2.56× through the scoring graph.
      prefixReuse: (options.prefixReuse ?? true) && model.chunksAfterPast,
      prefillChunk: options.prefillChunk ?? 0,
      sameLengthBatches: options.sameLengthBatches ?? model.device === "cpu",
      cachePolicy: options.cachePolicy ?? null,
    };
    this.batchSize = this.options.batchSize;
    this.continuationRows = CONTINUATIONS_PER_CONTEXT * this.batchSize;
  }

  /**
   * Answers `requests` in order. `onDone(n)` is called as batches of `n` requests finish.
   */
  async run(requests: readonly Request[], onDone: (n: number) => void = () => {}): Promise<AnyResponse[]> {
    const out: AnyResponse[] = new Array(requests.length);
    const byKind = new Map<Request["kind"], number[]>();
    requests.forEach((r, i) => pushTo(byKind, r.kind, i));
    for (const [kind, indices] of byKind) {
      await this.#withBackoff(() => this.#runKind(kind, indices, requests, out, onDone));
    }
    return out;
  }

  /** Runs `body`; with `autoBatch`, halves the batch size and reruns it on out-of-memory errors. */
  async #withBackoff(body: () => Promise<void>): Promise<void> {
    for (;;) {
      try {
        return await body();
      } catch (error) {
        const smallest = this.batchSize === 1 && (!this.options.prefixReuse || this.continuationRows === 1);
        if (!this.options.autoBatch || smallest || !isOutOfMemory(error)) throw error;
        // The batch first; at one context a call, the continuation rows alone.
        this.batchSize = Math.max(1, Math.floor(this.batchSize / 2));
        this.continuationRows = Math.max(1, Math.floor(this.continuationRows / 2));
        console.error(
          `kvbench: out of memory; retrying with batch size ${this.batchSize}` +
            (this.options.prefixReuse ? ` (continuations ${this.continuationRows} rows a call)` : ""),
        );
      }
    }
  }

  async #runKind(
    kind: Request["kind"],
    indices: number[],
    requests: readonly Request[],
    out: AnyResponse[],
    onDone: (n: number) => void,
  ): Promise<void> {
    switch (kind) {
      case "loglikelihood": {
        const pairs = indices.map((i) => {
          const r = requests[i] as Extract<Request, { kind: "loglikelihood" }>;
          return encodePair(this.#tok(), r.context, r.continuation, this.options.addBos);
        });
        const scores = await this.loglikelihoodTokens(pairs, onDone);
        indices.forEach((i, k) => (out[i] = scores[k]));
        break;
      }
      case "loglikelihood_rolling": {
        const tok = this.#tok();
        const windows: TokenPair[] = [];
        const owner: number[] = [];
        indices.forEach((i, k) => {
          const r = requests[i] as Extract<Request, { kind: "loglikelihood_rolling" }>;
          // lm-eval encodes the text with its usual BOS policy (tok_encode), then prefixes the first
          // window with the prefix token as well: with BOS on, BOS is both context and first target.
          const tokens = tok.encode(r.text, this.options.addBos);
          for (const w of rollingWindows(tokens, tok.prefixTokenId, this.options.maxLength)) {
            windows.push(w);
            owner.push(k);
          }
        });
        const scores = await this.loglikelihoodTokens(windows);
        const sums = indices.map(() => ({ logprob: 0, tokens: 0 }));
        scores.forEach((s, w) => {
          sums[owner[w]].logprob += s.logprob;
          sums[owner[w]].tokens += windows[w].continuation.length;
        });
        indices.forEach((i, k) => (out[i] = { kind: "loglikelihood_rolling", ...sums[k] }));
        onDone(indices.length);
        break;
      }
      case "generate_until": {
        const results = await this.generateUntil(
          indices.map((i) => requests[i] as GenerateRequest),
          onDone,
        );
        indices.forEach((i, k) => (out[i] = results[k]));
        break;
      }
      case "token_argmax": {
        const results = await this.tokenArgmax(
          indices.map((i) => requests[i] as TokenArgmaxRequest),
          onDone,
        );
        indices.forEach((i, k) => (out[i] = results[k]));
        break;
      }
      default: {
        const unknown: never = kind;
        throw new TypeError(`Cannot run request of kind ${unknown}`);
      }
    }
  }

  /**
   * Scores token pairs. Inputs longer than `maxLength + 1` lose context tokens from the left,
   * as lm-eval truncates. With prefix reuse, pairs that share a context run it once.
   */
  async loglikelihoodTokens(
    pairs: readonly TokenPair[],
    onDone: (n: number) => void = () => {},
  ): Promise<LoglikelihoodResponse[]> {
    const limit = this.options.maxLength + 1;
    const fitted = pairs.map(({ context, continuation }) => {
      if (context.length === 0) throw new RangeError("Cannot score a continuation without context tokens");
      if (continuation.length === 0) return { context, continuation };
      if (continuation.length >= limit) {
        throw new RangeError(
          `Cannot score a continuation of ${continuation.length} tokens with max length ${this.options.maxLength}`,
        );
      }
      const drop = Math.max(context.length + continuation.length - limit, 0);
      return { context: context.slice(drop), continuation };
    });
    const results: LoglikelihoodResponse[] = new Array(pairs.length);
    const empty = fitted.map((p, i) => (p.continuation.length === 0 ? i : -1)).filter((i) => i >= 0);
    for (const i of empty) results[i] = { kind: "loglikelihood", logprob: 0, isGreedy: true };
    const scored = fitted.map((_, i) => i).filter((i) => fitted[i].continuation.length > 0);
    if (this.options.prefixReuse) await this.#scoreShared(fitted, scored, results, onDone);
    else await this.#scorePlain(fitted, scored, results, onDone);
    onDone(empty.length);
    return results;
  }

  /**
   * Each distinct (context + continuation)[:-1] once, one call per batch: requests that differ only
   * in their last token share its logits, as lm-eval's logits cache has them (one-token answers of
   * one question). Left-padded, so every row's continuations end the chunk and only the last
   * (longest continuation) positions' logits are asked for; no state is fetched.
   */
  async #scorePlain(
    pairs: readonly TokenPair[],
    indices: number[],
    results: LoglikelihoodResponse[],
    onDone: (n: number) => void,
  ) {
    const inputs = new Map<number, number[]>();
    const groups = new Map<string, number[]>();
    for (const i of indices) {
      const input = [...pairs[i].context, ...pairs[i].continuation].slice(0, -1);
      const key = input.join(",");
      if (!groups.has(key)) inputs.set(i, input);
      pushTo(groups, key, i);
    }
    const order = [...groups.values()].sort((a, b) =>
      length(pairs[b[0]]) - length(pairs[a[0]]) || a[0] - b[0]
    );
    for (const batch of this.#batches(order, (g) => length(pairs[g[0]]))) {
      const rows = batch.map((g) => inputs.get(g[0])!);
      const keep = Math.max(...batch.flat().map((i) => pairs[i].continuation.length));
      const start = Stream.start(this.model, batch.length);
      const logits = await this.#finish(start, rows, "left", keep);
      start.dispose();
      const scores = new Scores();
      batch.forEach((group, r) => {
        for (const i of group) {
          const { context, continuation } = pairs[i];
          continuation.forEach((target, j) => scores.ask(i, { row: r, j: context.length - 1 + j, target }));
        }
      });
      await scores.read(logits);
      logits.dispose();
      for (const i of batch.flat()) results[i] = scores.result(i);
      onDone(batch.reduce((n, g) => n + g.length, 0));
    }
  }

  /** Contexts once per distinct context, continuations from copies of the context's state. */
  async #scoreShared(
    pairs: readonly TokenPair[],
    indices: number[],
    results: LoglikelihoodResponse[],
    onDone: (n: number) => void,
  ) {
    const groups = new Map<string, number[]>();
    for (const i of indices) {
      const key = pairs[i].context.join(",");
      pushTo(groups, key, i);
    }
    const contextLength = (g: number[]) => pairs[g[0]].context.length;
    const ordered = [...groups.values()].sort((a, b) =>
      contextLength(b) - contextLength(a) || longest(pairs, b) - longest(pairs, a) || a[0] - b[0]
    );
    for (const batch of this.#batches(ordered, contextLength)) {
      const contexts = batch.map((g) => pairs[g[0]].context);
      // A static cache's copies then hold the continuations without growing.
      const longestTail = Math.max(...batch.flat().map((i) => pairs[i].continuation.length)) - 1;
      const prefill = await this.#prefill(batch.length, contexts, longestTail);
      this.#measure(prefill.stream);
      // Every continuation's first token is scored from its context's last logits.
      const scores = new Scores();
      const rows: { group: number; index: number }[] = [];
      batch.forEach((group, g) => {
        for (const i of group) {
          scores.ask(i, { row: g, j: prefill.logits.lastIndex(g), target: pairs[i].continuation[0] });
          if (pairs[i].continuation.length > 1) rows.push({ group: g, index: i });
        }
      });
      await scores.read(prefill.logits);
      prefill.logits.dispose();
      const tailLength = (p: { index: number }) => pairs[p.index].continuation.length;
      rows.sort((a, b) => tailLength(b) - tailLength(a) || a.index - b.index);
      for (const part of this.#batches(rows, tailLength, this.continuationRows)) {
        const stream = prefill.stream.select(part.map((p) => p.group));
        const tails = part.map((p) => pairs[p.index].continuation.slice(0, -1));
        const logits = await this.#finish(stream, tails, "right");
        stream.dispose();
        part.forEach((p, r) => {
          const continuation = pairs[p.index].continuation;
          for (let j = 1; j < continuation.length; j++) {
            scores.ask(p.index, { row: r, j: j - 1, target: continuation[j] });
          }
        });
        await scores.read(logits);
        logits.dispose();
      }
      prefill.stream.dispose();
      for (const group of batch) for (const i of group) results[i] = scores.result(i);
      onDone(batch.reduce((n, g) => n + g.length, 0));
    }
  }

  /** Greedy generation: prompts left-padded, one token per row per step from the state. */
  async generateUntil(
    requests: readonly GenerateRequest[],
    onDone: (n: number) => void = () => {},
  ): Promise<GenerateResponse[]> {
    const tok = this.#tok();
    const eos = tok.eosId;
    const prompts = requests.map((r) => {
      const budget = Math.max(this.options.maxLength - r.maxGenToks, 1);
      const ids = r.context.length === 0 ? [tok.prefixTokenId] : tok.encode(r.context, this.options.addBos);
      return ids.slice(-budget);
    });
    const results: GenerateResponse[] = new Array(requests.length);
    const order = requests.map((_, i) => i).sort((a, b) => prompts[b].length - prompts[a].length || a - b);
    for (const batch of this.#batches(order, (i) => prompts[i].length)) {
      const maxSteps = Math.max(...batch.map((i) => requests[i].maxGenToks));
      let { logits, stream } = await this.#prefill(batch.length, batch.map((i) => prompts[i]), maxSteps);
      this.#measure(stream);
      const generated = batch.map((): number[] => []);
      const ended = batch.map(() => 0);
      const done = batch.map(() => false);
      const texts = batch.map(() => "");
      for (let step = 0; step < maxSteps; step++) {
        const next = await logits.lastArgmax();
        logits.dispose();
        batch.forEach((i, r) => {
          if (done[r]) return;
          if (next[r] === eos) {
            done[r] = true;
            ended[r] = 1;
            return;
          }
          generated[r].push(next[r]);
          texts[r] = tok.decode(generated[r]);
          if (
            generated[r].length >= requests[i].maxGenToks ||
            requests[i].until.some((s) => texts[r].includes(s)) ||
            stream.length + 1 >= this.options.maxLength
          ) done[r] = true;
        });
        if (done.every(Boolean)) break;
        const previous = stream;
        ({ logits, stream } = await this.#step(stream, next.map((t) => [t]), "left"));
        previous.dispose();
      }
      logits.dispose();
      stream.dispose();
      batch.forEach((i, r) => {
        const text = cutAtStop(texts[r], requests[i].until);
        results[i] = { kind: "generate_until", text, tokens: generated[r].length + ended[r] };
      });
      onDone(batch.length);
    }
    return results;
  }

  /** Next-token argmax at chosen positions of raw token sequences, one call per batch. */
  async tokenArgmax(
    requests: readonly TokenArgmaxRequest[],
    onDone: (n: number) => void = () => {},
  ): Promise<TokenArgmaxResponse[]> {
    const results: TokenArgmaxResponse[] = new Array(requests.length);
    const order = requests.map((_, i) => i).sort((a, b) =>
      requests[b].tokens.length - requests[a].tokens.length || a - b
    );
    // With a cache policy, each request is fed in two parts: what precedes its first read position,
    // rewritten by the policy, then the rest from that state.
    const split = (i: number) =>
      this.options.cachePolicy && requests[i].positions.length > 0 ? Math.min(...requests[i].positions) : 0;
    for (const batch of this.#batches(order, (i) => requests[i].tokens.length)) {
      let start = Stream.start(this.model, batch.length);
      const heads = batch.map((i) => requests[i].tokens.slice(0, split(i)));
      if (heads.some((h) => h.length > 0)) {
        const prefill = await this.#prefill(batch.length, heads);
        prefill.logits.dispose();
        start.dispose();
        start = prefill.stream;
      }
      const { logits, stream } = await this.#step(
        start,
        batch.map((i) => requests[i].tokens.slice(split(i))),
        "right",
      );
      start.dispose();
      this.#measure(stream);
      stream.dispose();
      const picks = batch.flatMap((i, r) =>
        requests[i].positions.map((j) => ({ row: r, j: j - split(i), target: 0 }))
      );
      const { argmax } = await logits.pick(picks);
      logits.dispose();
      let k = 0;
      for (const i of batch) {
        results[i] = {
          kind: "token_argmax",
          predictions: requests[i].positions.map(() => argmax[k++]),
        };
      }
      onDone(batch.length);
    }
    return results;
  }

  /**
   * Consecutive runs of `items` (sorted so that equal lengths are adjacent), at most `size` (the
   * batch size) each; with `sameLengthBatches`, a run also ends where the length changes.
   */
  #batches<T>(items: readonly T[], lengthOf: (item: T) => number, size = this.batchSize): T[][] {
    if (!this.options.sameLengthBatches) return chunk(items, size);
    const runs: T[][] = [];
    for (const item of items) {
      const last = runs.at(-1);
      if (last && last.length < size && lengthOf(last[0]) === lengthOf(item)) last.push(item);
      else runs.push([item]);
    }
    return runs;
  }

  #measure(stream: Stream): void {
    this.#record(stream.measureCache());
  }

  #record(cache: CacheMeasure): void {
    this.stats.cache = cache;
    const perSequence = cache.bytesPerToken * cache.tokens + cache.fixedBytes;
    this.stats.maxStateBytes = Math.max(this.stats.maxStateBytes, perSequence);
  }

  /** Prompts fed to fresh rows; `reserve`: tokens to be generated after them (sizes a static cache). */
  async #prefill(rows: number, prompts: number[][], reserve = 0) {
    const out = await Stream.start(this.model, rows).prefill(
      prompts,
      this.options.prefillChunk,
      (s, c, width) => this.#step(s, c, "left", true, width),
      reserve,
    );
    const policy = this.options.cachePolicy;
    return policy ? { logits: out.logits, stream: policy.apply(out.stream) } : out;
  }

  #step(stream: Stream, chunks: number[][], pad: "left" | "right", lastOnly = false, width = 0) {
    return this.#count(chunks, () => stream.step(chunks, pad, lastOnly, width));
  }

  #finish(stream: Stream, chunks: number[][], pad: "left" | "right", keep = 0) {
    return this.#count(chunks, () => stream.finish(chunks, pad, keep));
  }

  async #count<T>(chunks: number[][], call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const result = await call();
    this.stats.seconds += (performance.now() - started) / 1000;
    this.stats.calls += 1;
    this.stats.tokens += chunks.reduce((n, c) => n + c.length, 0);
    return result;
  }

  #tok(): TextTokenizer {
    if (!this.tokenizer) {
      throw new TypeError("Cannot run a text request on a model loaded without a tokenizer");
    }
    return this.tokenizer;
  }
}

/** Whether an error from onnxruntime means the device (or host) ran out of memory. */
export function isOutOfMemory(error: unknown): boolean {
  return /out of memory|failed to allocate|bad_alloc|CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation/i
    .test(
      String((error as Error)?.message ?? error),
    );
}

/**
 * Continuation scores gathered over several logits reads: the summed log-probability of each
 * request's tokens (in float64) and whether every one of them was the argmax.
 */
class Scores {
  readonly #sums = new Map<number, { logprob: number; isGreedy: boolean }>();
  #pending: { owner: number; pick: TokenPick }[] = [];

  /** Adds a token of request `owner` to the next read. */
  ask(owner: number, pick: TokenPick): void {
    this.#pending.push({ owner, pick });
  }

  /** Reads the pending picks from `logits` and adds them to their requests. */
  async read(logits: StepLogits): Promise<void> {
    const pending = this.#pending;
    this.#pending = [];
    const picked: Picked = await logits.pick(pending.map((p) => p.pick));
    pending.forEach(({ owner, pick }, k) => {
      const sum = this.#sums.get(owner) ?? { logprob: 0, isGreedy: true };
      sum.logprob += picked.logprobs[k];
      if (picked.argmax[k] !== pick.target) sum.isGreedy = false;
      this.#sums.set(owner, sum);
    });
  }

  /** The response of request `owner`. */
  result(owner: number): LoglikelihoodResponse {
    const sum = this.#sums.get(owner);
    if (!sum) throw new RangeError(`Cannot score request ${owner}: none of its tokens were read`);
    return { kind: "loglikelihood", ...sum };
  }
}

/** Cuts generated text at the earliest stop string, as lm-eval's successive splits do. */
export function cutAtStop(text: string, until: readonly string[]): string {
  for (const stop of until) {
    if (stop.length > 0) text = text.split(stop)[0];
  }
  return text;
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function length(pair: TokenPair): number {
  return pair.context.length + pair.continuation.length;
}

function longest(pairs: readonly TokenPair[], group: number[]): number {
  return Math.max(...group.map((i) => length(pairs[i])));
}
