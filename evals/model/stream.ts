/**
 * A batch of token streams sharing one set of state tensors: the bookkeeping that turns
 * "append these tokens to each row" into mask, positions and state feeds.
 *
 * Padding rules, chosen so that every family's state stays exact:
 * - `left` padding is for a fresh stream (or chunks of equal length): padded slots come before
 *   any real token, where attention masks them and a Mamba layer's zeroed input leaves its
 *   state at zero.
 * - `right` padding is for the last chunk of a row whose state will not be used again (scoring
 *   a continuation); the padded slots only follow the real ones.
 *
 * A graph with a static cache ({@linkcode OnnxModel.staticCache}) has no padding slots: each row's
 * buffer holds its tokens from slot 0 on, every chunk is right-padded whatever `pad` says (the
 * padded tail lands past the row's length, where it is never read and the next chunk overwrites
 * it), and logits are addressed the same way as with `pad`. Its buffers are written in place, so a
 * step hands them to the stream it returns, and they grow (one copy) when a chunk would not fit.
 *
 * @module
 */

import type { OnnxModel, Picked, Tensor } from "./onnx_model.ts";
import { readFloat32 } from "./ort/tensor.ts";

/** A position of a step's logits to read: the `j`-th real token of `row`'s chunk, and a target. */
export interface TokenPick {
  /** Stream row. */
  row: number;
  /** Real (non-pad) token index within the row's chunk. */
  j: number;
  /** Token whose log-probability is wanted (0 when only the argmax matters). */
  target: number;
}

/**
 * Logits of one step, left where the model computed them and addressed by real (non-pad) token
 * index within each row's chunk. {@linkcode StepLogits.pick} reads scores on the device; `at`
 * copies the whole tensor to the host once. Dispose of it when done.
 */
export class StepLogits {
  /** Vocabulary size. */
  readonly vocab: number;
  /** Positions per row the logits cover: the last `len` of the padded chunk. */
  readonly len: number;
  /** Index of each row's first real token in the padded chunk. */
  readonly offsets: readonly number[];
  /** Real tokens per row in the chunk. */
  readonly lengths: readonly number[];
  /** Chunk position of the first position the logits cover (0 when they cover the whole chunk). */
  readonly start: number;
  /** Whether the tensor is `len × rows × vocab` rather than `rows × len × vocab`. */
  readonly stepMajor: boolean;

  readonly #model: OnnxModel;
  readonly #tensor: Tensor;
  #host: Float32Array | null = null;

  /** Wraps a step's logits: `tensor` covers chunk positions `start … start + len - 1` of each row. */
  constructor(
    model: OnnxModel,
    tensor: Tensor,
    len: number,
    offsets: number[],
    lengths: number[],
    start = 0,
    stepMajor = false,
  ) {
    this.#model = model;
    this.#tensor = tensor;
    this.vocab = model.vocabSize;
    this.len = len;
    this.offsets = offsets;
    this.lengths = lengths;
    this.start = start;
    this.stepMajor = stepMajor;
  }

  /**
   * All logits as float32 on the host, `rows × len × vocab` (`len × rows × vocab` when
   * {@linkcode StepLogits.stepMajor}), copied from the device once.
   */
  get data(): Float32Array {
    this.#host ??= readFloat32(this.#tensor);
    return this.#host;
  }

  /** The logits after the `j`-th real token of `row`'s chunk, on the host. */
  at(row: number, j: number): Float32Array {
    const start = this.#index(row, j) * this.vocab;
    return this.data.subarray(start, start + this.vocab);
  }

  /** The logits after the last real token of `row`'s chunk, on the host. */
  last(row: number): Float32Array {
    return this.at(row, this.lastIndex(row));
  }

  /** The real-token index of `row`'s last token, for a pick. */
  lastIndex(row: number): number {
    return this.lengths[row] - 1;
  }

  /** For each pick, log_softmax(logits)[target] and the argmax, computed where the logits are. */
  pick(picks: readonly TokenPick[]): Promise<Picked> {
    return this.#model.pick(
      this.#tensor,
      picks.map((p) => ({ index: this.#index(p.row, p.j), target: p.target })),
    );
  }

  /** Argmax after the last real token of every row. */
  async lastArgmax(): Promise<number[]> {
    const picks = this.lengths.map((_, row) => ({ row, j: this.lastIndex(row), target: 0 }));
    return (await this.pick(picks)).argmax;
  }

  /** Frees the logits (device memory under CUDA). Safe to call twice. */
  dispose(): void {
    this.#tensor.dispose();
  }

  #index(row: number, j: number): number {
    if (j < 0 || j >= this.lengths[row]) {
      throw new RangeError(`Cannot read logits at token ${j} of row ${row}: it has ${this.lengths[row]}`);
    }
    const position = this.offsets[row] + j - this.start;
    if (position < 0) {
      throw new RangeError(
        `Cannot read logits at token ${j} of row ${row}: only the last ${this.len} positions were returned`,
      );
    }
    return this.stepMajor ? position * this.lengths.length + row : row * this.len + position;
  }
}

/** Measured size of the state held by a stream. */
export interface CacheMeasure {
  /** Bytes of all growing states per token per row. */
  bytesPerToken: number;
  /** Bytes of all fixed-size states per row. */
  fixedBytes: number;
  /** Tokens per row the measurement covered. */
  tokens: number;
}

/** Slots a static cache grows by at least, so that a decode step rarely copies the cache. */
const GROWTH_SLOTS = 256;

/**
 * Rows of token streams and their state, immutable: each step returns a new stream (with a static
 * cache, one that takes over this stream's buffers: use only the returned one).
 */
export class Stream {
  /** Number of rows. */
  readonly rows: number;
  /** Slots per row in the state (padding included; a static cache's capacity). */
  readonly pastLen: number;
  /** 1/0 mask of the state's slots, `rows × pastLen` (empty with a static cache: rows are dense). */
  readonly mask: Uint8Array;
  /** Real tokens per row so far: the next token's position. */
  readonly realCounts: readonly number[];
  /** State tensors keyed by graph input name. */
  readonly states: ReadonlyMap<string, Tensor>;
  readonly #model: OnnxModel;
  // A static cache's buffers pass to the stream a step returns; this one then owns nothing.
  #owns = true;

  private constructor(
    model: OnnxModel,
    rows: number,
    pastLen: number,
    mask: Uint8Array,
    realCounts: number[],
    states: Map<string, Tensor>,
  ) {
    this.#model = model;
    this.rows = rows;
    this.pastLen = pastLen;
    this.mask = mask;
    this.realCounts = realCounts;
    this.states = states;
  }

  /**
   * A stream of `rows` empty rows: growing states of length 0, fixed states zeroed (a static
   * cache's buffers come with the first step, sized for it).
   */
  static start(model: OnnxModel, rows: number): Stream {
    const states = model.staticCache ? new Map<string, Tensor>() : model.emptyStates(rows);
    return new Stream(model, rows, 0, new Uint8Array(0), new Array(rows).fill(0), states);
  }

  /** Tokens in the longest row: what a maximum length is checked against. */
  get length(): number {
    return this.#model.staticCache ? Math.max(0, ...this.realCounts) : this.pastLen;
  }

  /** A stream made of the given rows of this one (a row may repeat): copies its state, on its device. */
  select(indices: readonly number[]): Stream {
    this.#live();
    const copies = this.#model.gatherRows([...this.states.values()], indices);
    const states = new Map([...this.states.keys()].map((name, i) => [name, copies[i]]));
    const mask = new Uint8Array(this.mask.length > 0 ? indices.length * this.pastLen : 0);
    if (mask.length > 0) {
      indices.forEach((src, dst) =>
        mask.set(this.mask.subarray(src * this.pastLen, (src + 1) * this.pastLen), dst * this.pastLen)
      );
    }
    return new Stream(
      this.#model,
      indices.length,
      this.pastLen,
      mask,
      indices.map((i) => this.realCounts[i]),
      states,
    );
  }

  /**
   * This stream's rows and mask holding `states` instead (a cache policy's rewrite): the returned
   * stream owns them, and this one must not be used or disposed after it.
   */
  withStates(states: Map<string, Tensor>): Stream {
    if (this.#model.staticCache) {
      throw new RangeError(
        "Cannot rewrite a static cache's buffers: cache policies need a graph with a growing cache",
      );
    }
    return new Stream(this.#model, this.rows, this.pastLen, this.mask, [...this.realCounts], states);
  }

  /**
   * Appends `chunks[r]` to row `r` in one forward call and returns the logits and the new stream.
   * Rows may get chunks of different lengths (including 0), padded as `pad` says. With `lastOnly`
   * (left padding only, where every row's last token is the chunk's last position) the graph may
   * return just that position's logits; then only `logits.last(row)` can be read. `width` pads the
   * chunk to at least that many positions.
   */
  async step(
    chunks: readonly (readonly number[])[],
    pad: "left" | "right",
    lastOnly = false,
    width = 0,
  ): Promise<{
    logits: StepLogits;
    stream: Stream;
  }> {
    if (lastOnly && pad !== "left") {
      throw new RangeError("Cannot keep only the last logits of a right-padded chunk");
    }
    const { logits, states, mask, realCounts, total } = await this.#run(
      chunks,
      pad,
      lastOnly ? 1 : 0,
      true,
      lastOnly ? "prefill" : "step",
      width,
    );
    if (this.#model.staticCache) this.#owns = false;
    return { logits, stream: new Stream(this.#model, this.rows, total, mask, realCounts, states) };
  }

  /**
   * Appends `chunks[r]` to row `r` as the last call these rows will see and returns the logits
   * alone: the updated state is not fetched, so it never leaves the device. With left padding,
   * `keep` > 0 asks for the last `keep` positions only. The cheap way to score continuations.
   */
  async finish(chunks: readonly (readonly number[])[], pad: "left" | "right", keep = 0): Promise<StepLogits> {
    if (keep > 0 && pad !== "left") {
      throw new RangeError("Cannot keep only the last logits of a right-padded chunk");
    }
    return (await this.#run(chunks, pad, keep, false, "score")).logits;
  }

  async #run(
    chunks: readonly (readonly number[])[],
    pad: "left" | "right",
    keep: number,
    fetchStates: boolean,
    call: "prefill" | "step" | "score",
    width = 0,
  ) {
    this.#live();
    if (chunks.length !== this.rows) {
      throw new RangeError(`Cannot step ${this.rows} rows with ${chunks.length} chunks`);
    }
    const lengths = chunks.map((c) => c.length);
    const len = Math.max(width, ...lengths);
    if (len === 0) throw new RangeError("Cannot step a stream with no tokens");
    if (this.#model.staticCache) return this.#runStatic(chunks, keep, fetchStates, call, len);
    if (len > 1 && this.pastLen > 0 && !this.#model.chunksAfterPast) {
      throw new RangeError(
        `Cannot feed ${len} tokens after a past of ${this.pastLen}: this graph takes one token at a time after a past`,
      );
    }
    // A row that holds no real token yet may take more leading padding (chunked prefill);
    // padding after a real token would sit between tokens, which recurrent states can't skip.
    if (pad === "left" && lengths.some((l, r) => l !== len && this.realCounts[r] > 0)) {
      throw new RangeError(
        "Cannot left-pad a stream that already holds tokens: padding would sit between them",
      );
    }
    const rows = this.rows;
    const total = this.pastLen + len;
    const inputIds = new BigInt64Array(rows * len);
    const positionIds = new BigInt64Array(rows * len);
    const attentionMask = new BigInt64Array(rows * total);
    const mask = new Uint8Array(rows * total);
    const offsets: number[] = [];
    const realCounts: number[] = [];
    for (let r = 0; r < rows; r++) {
      const chunk = chunks[r];
      const offset = pad === "left" ? len - chunk.length : 0;
      offsets.push(offset);
      mask.set(this.mask.subarray(r * this.pastLen, (r + 1) * this.pastLen), r * total);
      let position = this.realCounts[r];
      for (let j = 0; j < len; j++) {
        const k = j - offset;
        const real = k >= 0 && k < chunk.length;
        if (real) {
          inputIds[r * len + j] = BigInt(chunk[k]);
          mask[r * total + this.pastLen + j] = 1;
          positionIds[r * len + j] = BigInt(position++);
        } else {
          positionIds[r * len + j] = BigInt(Math.max(position - 1, 0));
        }
      }
      realCounts.push(position);
    }
    // Little-endian int64 from 0/1 bytes through the low words: a BigInt per slot cost ~1 ms a
    // decode step at 32K.
    const words = new Int32Array(attentionMask.buffer);
    for (let i = 0; i < mask.length; i++) words[2 * i] = mask[i];
    const out = await this.#model.forward({
      inputIds,
      attentionMask,
      positionIds,
      rows,
      len,
      pastLen: this.pastLen,
      states: this.states,
      keep,
      fetchStates,
      call,
    });
    const logits = new StepLogits(
      this.#model,
      out.logits,
      out.logitsLen,
      offsets,
      lengths,
      len - out.logitsLen,
    );
    return { logits, states: out.states, mask, realCounts, total };
  }

  /**
   * `#run` on a static cache: each row's chunk right-padded and written after its own tokens.
   * Readers address logits by real-token index, so `pad` changes nothing here; `keep` > 0 returns
   * each row's own last `keep` tokens (with "left" padding those are the chunk's last positions).
   */
  async #runStatic(
    chunks: readonly (readonly number[])[],
    keep: number,
    fetchStates: boolean,
    call: "prefill" | "step" | "score",
    len: number,
  ) {
    const rows = this.rows;
    const lengths = chunks.map((c) => c.length);
    const need = Math.max(...this.realCounts) + len;
    let states = this.states as Map<string, Tensor>;
    let capacity = this.pastLen;
    const grown = need > capacity;
    if (grown) {
      capacity = this.states.size === 0
        ? need
        : Math.max(need, capacity + Math.max(GROWTH_SLOTS, Math.ceil(capacity / 4)));
      states = this.#model.widenCache(this.states, rows, capacity);
    }
    const inputIds = new BigInt64Array(rows * len);
    chunks.forEach((chunk, r) => chunk.forEach((t, j) => (inputIds[r * len + j] = BigInt(t))));
    const count = keep > 0 ? Math.min(keep, len) : len;
    // Chunk position of real token j of row r is j; the logits' position p covers real token
    // p - offset (see StepLogits), with offset = count - n for the last `count` tokens of a row of n.
    const logitsIndex = new BigInt64Array(rows * count);
    const offsets = lengths.map((n) => (keep > 0 ? count - n : 0));
    for (let r = 0; r < rows; r++) {
      for (let p = 0; p < count; p++) {
        const j = Math.min(Math.max(p - offsets[r], 0), Math.max(lengths[r] - 1, 0));
        logitsIndex[r * count + p] = BigInt(j);
      }
    }
    let out;
    try {
      out = await this.#model.forward({
        inputIds,
        attentionMask: new BigInt64Array(0),
        positionIds: new BigInt64Array(0),
        rows,
        len,
        pastLen: Math.max(...this.realCounts),
        states,
        call,
        fetchStates,
        slots: { past: this.realCounts, real: lengths, logitsIndex, logitsLen: count },
      });
    } finally {
      // Buffers made for this call alone: a finishing call's, or a failed step's.
      if (grown && (!fetchStates || out === undefined)) { for (const t of states.values()) t.dispose(); }
    }
    // A step's stream takes the (possibly grown) buffers; this stream's old ones go.
    if (grown && fetchStates) { for (const t of this.states.values()) t.dispose(); }
    const logits = new StepLogits(this.#model, out.logits, count, offsets, lengths, 0, out.stepMajor);
    const realCounts = this.realCounts.map((c, r) => c + lengths[r]);
    return { logits, states: out.states, mask: new Uint8Array(0), realCounts, total: capacity };
  }

  /**
   * Feeds `rows` (one per stream row) left-padded to a common length, `chunk` columns per
   * forward call (0: all at once), so a long prompt never needs a `len × vocab` logits tensor
   * longer than `chunk`. A graph that takes no chunk after a past gets the rows whole. The padded
   * width is a multiple of the model's `keyLengthMultiple`. Only the last position's logits are
   * asked for (read them with `last(row)`). `step` runs each call with the chunk's padded width (a
   * hook for counting); by default `s.step(c, "left", true, width)`. A static cache is sized once
   * for the prompt and `reserve` more tokens a row (the tokens to be generated after it).
   */
  async prefill(
    rows: readonly (readonly number[])[],
    chunk = 0,
    step: (s: Stream, c: number[][], width: number) => Promise<{ logits: StepLogits; stream: Stream }> = (
      s,
      c,
      width,
    ) => s.step(c, "left", true, width),
    reserve = 0,
  ): Promise<{ logits: StepLogits; stream: Stream }> {
    const multiple = this.#model.keyLengthMultiple;
    // Extra leading padding only where no row holds a token yet (see `keyLengthMultiple`).
    const longest = Math.max(...rows.map((r) => r.length));
    const width = this.pastLen === 0 ? Math.ceil(longest / multiple) * multiple : longest;
    const size = chunk > 0 && this.#model.chunksAfterPast ? chunk : width;
    const origin = this.#model.staticCache ? this.#reserved(this.length + width + reserve) : this;
    let result: { logits: StepLogits; stream: Stream } | null = null;
    for (let start = 0; start < width; start += size) {
      const end = Math.min(start + size, width);
      const parts = rows.map((r) => {
        const offset = width - r.length;
        return r.slice(Math.max(0, start - offset), Math.max(0, end - offset));
      });
      const previous = result;
      result = await step(previous?.stream ?? origin, parts, end - start);
      // Intermediate streams and logits never reach the caller; device memory is freed by hand.
      previous?.stream.dispose();
      previous?.logits.dispose();
    }
    if (!result) throw new RangeError("Cannot prefill a stream with no tokens");
    return result;
  }

  /** This stream with a static cache of at least `slots` slots a row: itself, or one that took over its buffers. */
  #reserved(slots: number): Stream {
    this.#live();
    if (slots <= this.pastLen) return this;
    const states = this.#model.widenCache(this.states, this.rows, slots);
    for (const t of this.states.values()) t.dispose();
    this.#owns = false;
    return new Stream(this.#model, this.rows, slots, this.mask, [...this.realCounts], states);
  }

  /** Measures the bytes held by this stream's actual state tensors. */
  measureCache(): CacheMeasure {
    let growing = 0;
    let fixed = 0;
    for (const spec of this.#model.states) {
      // From the dims, not the data: state left on the device has no host copy to measure.
      const tensor = this.states.get(spec.input)!;
      const bytes = tensor.byteLength;
      if (spec.kind === "growing") growing += bytes;
      else fixed += bytes;
    }
    const slots = this.rows * this.pastLen;
    return {
      bytesPerToken: slots > 0 ? growing / slots : 0,
      fixedBytes: this.rows > 0 ? fixed / this.rows : 0,
      tokens: this.pastLen,
    };
  }

  /**
   * Frees this stream's state tensors (each stream owns its own: a step or a selection makes new
   * ones). Device memory is not collected by the garbage collector in time, so a stream that is
   * done with should be disposed. Use no stream after this.
   */
  dispose(): void {
    if (!this.#owns) return;
    for (const tensor of this.states.values()) tensor.dispose();
  }

  #live(): void {
    if (!this.#owns) {
      throw new RangeError(
        "Cannot use a stream after stepping it: its static cache now belongs to the step's stream",
      );
    }
  }
}
