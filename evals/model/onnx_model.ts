/**
 * How a model is run: one ONNX Runtime session (through the C API, `./ort/`), fed token ids, a
 * mask, positions and the state tensors found in its graph. The state and the logits stay where
 * the provider computed them (GPU memory under CUDA); the logits head (`logits_head.ts`) reads
 * log-probs and argmaxes from them on the same device, so only those come back to the host.
 * Nothing here knows about model families.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import process from "node:process";
import { ModelRunError, StateMismatchError, UserError } from "../../core/errors.ts";
import { bindingDir, missingProviderLibraries } from "./providers.ts";
import { OrtError } from "./ort/api.ts";
import { type OutputRequest, Session } from "./ort/session.ts";
import { readFloat32, Tensor } from "./ort/tensor.ts";
import { LogitsHead, type Pick, type Picked } from "./logits_head.ts";
import { concreteShape, type StateHints, type StateSpec } from "./state.ts";
import { type CheckedGraph, checkGraphContract } from "./contract.ts";
import { DecodeGraphs } from "./decode_graphs.ts";
import { StaticCacheRuns } from "./static_cache.ts";
import { readOnnxSignature } from "./onnx_signature.ts";
import { checkScoreGraph, ScoreGraph } from "./score_graph.ts";
import { findSharedWeights, loadSharedWeights } from "./shared_weights.ts";

export { Tensor } from "./ort/tensor.ts";
export type { Pick, Picked } from "./logits_head.ts";

/** Where the model runs. */
export type Device = "cpu" | "cuda";

/**
 * Calls of at most this many tokens (decode steps, short continuations) run on the calling thread:
 * they take milliseconds, and the hop to a worker thread cost 0.4–0.6 ms of a 7 ms decode step on
 * an H100. Longer ones go to a worker so that Ctrl-C is handled while they run.
 */
const SHORT_CALL_TOKENS = 256;

/** The devices kvbench runs on. */
export const DEVICES: readonly Device[] = ["cpu", "cuda"];

/** Options for {@linkcode OnnxModel.load}. */
export interface LoadOptions {
  /** Execution provider. @default {"cpu"} */
  device?: Device;
  /** Hints for states whose layout the graph alone doesn't tell. */
  stateHints?: StateHints;
  /** CPU threads for one operator; 0 lets ONNX Runtime choose. @default {0} */
  intraOpThreads?: number;
  /** Let the CUDA provider round float32 matrix products to TF32. Ignored on CPU. @default {false} */
  tf32?: boolean;
  /**
   * Round a prompt's padded width up to a multiple of this (the sidecar's `key_length_multiple`):
   * some attention kernels need it (see {@linkcode OnnxModel.keyLengthMultiple}). @default {1}
   */
  keyLengthMultiple?: number;
  /**
   * Capture a static cache's decode steps as CUDA graphs (see `decode_graphs.ts`). On by default
   * where it applies: a static-cache graph in fp16 on CUDA (`KVBENCH_CUDA_GRAPHS=0` turns
   * it off, for comparisons). `true` on CPU runs the same fixed-buffer steps without capture.
   */
  cudaGraphs?: boolean;
  /**
   * Positions the model was built for (its RoPE tables' rows: the sidecar's `max_length`), which
   * bound a captured step's `total_sequence_length`; without it no step is captured.
   */
  maxPositions?: number;
  /**
   * A static cache's scoring graph (the sidecar's `score_graph`, a path): opened on the first
   * call it serves, see `score_graph.ts`.
   */
  scoreGraph?: string;
}

/** Inputs of one forward call; all arrays are row-major `[rows, len]`. */
export interface Feeds {
  /** Token ids, `rows × len`. */
  inputIds: BigInt64Array<ArrayBuffer>;
  /** 1 for real tokens, 0 for padding, over past and current tokens: `rows × (past + len)`. */
  attentionMask: BigInt64Array<ArrayBuffer>;
  /** Position of each current token, `rows × len`. */
  positionIds: BigInt64Array<ArrayBuffer>;
  /** Number of rows. */
  rows: number;
  /** Tokens per row in this call. */
  len: number;
  /** Tokens per row already in the state. */
  pastLen: number;
  /** State tensors keyed by graph input name (host or device; the call does not take ownership). */
  states: ReadonlyMap<string, Tensor>;
  /** Logits wanted for the last this-many positions only (0: all); honoured when the graph can. */
  keep?: number;
  /** What the call is for, named when ONNX Runtime fails. @default {"step"} */
  call?: "prefill" | "step" | "score";
  /** Give the device arena's unused memory back after the call (for memory readings). @default {false} */
  shrinkArena?: boolean;
  /**
   * Whether to return the updated states. `false` asks for the logits alone, so a state that will
   * not be used again is never kept. @default {true}
   */
  fetchStates?: boolean;
  /**
   * A static cache's bookkeeping (see {@linkcode OnnxModel.staticCache}), which replaces the mask and
   * positions: each row's tokens already in its buffer, how many of this call's (right-padded)
   * tokens are real, and the chunk positions whose logits each row wants (`rows × logitsLen`).
   * `states` are then the buffers, written in place.
   */
  slots?: {
    past: readonly number[];
    real: readonly number[];
    logitsIndex: BigInt64Array<ArrayBuffer>;
    logitsLen: number;
  };
}

/** What one forward call returns. */
export interface Outputs {
  /** Logits, `rows × logitsLen × vocab`, where the provider computed them; owned by the caller. */
  logits: Tensor;
  /** Positions per row the logits cover: the last `logitsLen` of the call's `len`. */
  logitsLen: number;
  /** Updated state tensors keyed by the graph *input* name they feed next, owned by the caller. */
  states: Map<string, Tensor>;
  /** Whether the logits are `logitsLen × rows × vocab` (a static cache's call split by position). */
  stepMajor?: boolean;
}

/** An ONNX causal LM whose state tensors were discovered from its graph. */
export class OnnxModel {
  /** The model directory. */
  readonly dir: string;
  /** The state tensors, in graph input order. */
  readonly states: readonly StateSpec[];
  /** Whether the graph takes `position_ids`. */
  readonly hasPositionIds: boolean;
  /** Whether the graph can return the last positions' logits only (`num_logits_to_keep`). */
  readonly hasLogitsToKeep: boolean;
  /** Size of the logits' last axis. */
  readonly vocabSize: number;
  /** The device the session runs on. */
  readonly device: Device;
  /**
   * Whether the graph keeps its cache in preallocated buffers that it writes in place (it takes
   * `seqlens_k`: GroupQueryAttention's): each row fills its buffer from slot 0 to its own length,
   * so chunks are right-padded, positions are slots and no mask is fed. Found from the inputs.
   */
  readonly staticCache: boolean;
  /**
   * Whether the graph takes several new tokens after a non-empty past. Exports whose mask subgraph
   * Expands a [S, S] causal square to [B, 1, S, past + S] (onnxruntime-genai's, optimum's with a
   * mask subgraph) take them only with an empty past or one at a time; found by a probe at load.
   */
  chunksAfterPast = true;
  /**
   * Prompts are left-padded to a width that is a multiple of this. ONNX Runtime's CUDA `Attention`
   * (opset 23) runs its memory-efficient kernel with a mask only when the key length is a multiple
   * of 4; otherwise a kernel that holds the fp32 scores of every head and key (gigabytes at 32K), so
   * fused graphs ask for 4. Leading padding costs nothing else: it is masked, and a recurrent state
   * stays zero through it.
   */
  readonly keyLengthMultiple: number;
  #session: Session;
  readonly #usesCacheBranch: boolean;
  // A static cache's second outputs of a state (`<present>.shared`: GroupQueryAttention's value output
  // where one buffer is both key and value, MLA's), bound to that state's buffer too.
  readonly #sharedOutputs: { output: string; input: string }[];
  readonly #options: Omit<LoadOptions, "device">;
  readonly #logitsType: "float32" | "float16";
  #head: LogitsHead | null = null;
  #pairSingleRows = false;
  readonly #static: StaticCacheRuns | null = null;
  // Weights handed to the sessions (see shared_weights.ts): freed after them.
  readonly #weights: ReadonlyMap<string, Tensor>;

  private constructor(
    dir: string,
    session: Session,
    states: StateSpec[],
    vocabSize: number,
    logitsType: "float32" | "float16",
    options: LoadOptions,
    weights: ReadonlyMap<string, Tensor>,
  ) {
    this.dir = dir;
    this.#session = session;
    this.#weights = weights;
    this.#logitsType = logitsType;
    this.#options = options;
    this.states = states;
    const names = session.inputNames;
    this.hasPositionIds = names.includes("position_ids");
    this.hasLogitsToKeep = names.includes("num_logits_to_keep");
    this.#usesCacheBranch = names.includes("use_cache_branch");
    this.staticCache = names.includes("seqlens_k");
    const outputs = new Set(session.outputs.map((o) => o.name));
    this.#sharedOutputs = states
      .filter((spec) => outputs.has(`${spec.output}.shared`))
      .map((spec) => ({ output: `${spec.output}.shared`, input: spec.input }));
    this.vocabSize = vocabSize;
    this.device = options.device ?? "cpu";
    this.keyLengthMultiple = options.keyLengthMultiple ?? 1;
    if (this.staticCache) {
      const graph = {
        session,
        bindings: { states, shared: this.#sharedOutputs },
        logitsType,
        vocab: vocabSize,
        maxPositions: options.maxPositions ?? null,
      };
      const capture = graph.maxPositions !== null &&
        (session.cudaGraphs || (this.device === "cpu" && options.cudaGraphs));
      const scorePath = options.scoreGraph;
      const main = { vocabSize, logitsType, states };
      this.#static = new StaticCacheRuns(
        graph,
        basename(dir),
        capture ? new DecodeGraphs(graph) : null,
        SHORT_CALL_TOKENS,
        scorePath ? () => openScoreGraph(scorePath, main, options, weights) : null,
      );
    }
  }

  /** Whether decode steps are captured as CUDA graphs (or, on CPU, run as they would be). */
  get cudaGraphs(): boolean {
    return (this.#static?.graphs ?? null) !== null;
  }

  /** Whether the export's scoring graph has been opened (on the first continuations it scored). */
  get scoreGraphOpen(): boolean {
    return this.#static?.scoreGraphOpen ?? false;
  }

  /** How many decode graphs were made (one per batch size and set of cache buffers). */
  get decodeGraphCount(): number {
    return this.#static?.graphs?.size ?? 0;
  }

  /**
   * Opens `dir/model.onnx` and discovers its inputs, outputs and state tensors.
   *
   * @throws {UserError} when the file is missing or unreadable, lacks `input_ids`,
   *   `attention_mask` or `logits`, or its states don't pair up.
   */
  static async load(dir: string, options: LoadOptions = {}): Promise<OnnxModel> {
    const device = options.device ?? "cpu";
    const path = join(dir, "model.onnx");
    if (!existsSync(path)) {
      throw new UserError(
        `Cannot load model from ${dir} as ${path} does not exist: point --model at a directory ` +
          `holding model.onnx, tokenizer.json and tokenizer_config.json`,
      );
    }
    // Weights the static graph and its scoring graph both read: one copy for both sessions.
    const score = options.scoreGraph;
    let weights = score
      ? loadSharedWeights(findSharedWeights([path, score]), device)
      : new Map<string, Tensor>();
    let opened;
    try {
      opened = openSharing(path, weights, (w) => openModelSession(path, device, options, w));
    } catch (error) {
      for (const tensor of weights.values()) tensor.dispose();
      throw error;
    }
    const { session, shared } = opened;
    if (!shared) {
      // Each session then reads its own copy (the scoring graph's too).
      for (const tensor of weights.values()) tensor.dispose();
      weights = new Map();
    }
    try {
      const { states, vocabSize, logitsType } = checkGraphContract(
        path,
        session.inputs,
        session.outputs,
        options.stateHints,
      );
      const model = new OnnxModel(
        dir,
        session,
        states,
        vocabSize,
        logitsType,
        { ...options, device },
        weights,
      );
      // A static cache takes chunks after a past (a row at a time where the kernel wants it).
      if (!model.staticCache) {
        model.chunksAfterPast = await model.#probeChunksAfterPast(path);
        if (device === "cpu") model.#pairSingleRows = await model.#probeSingleRowPath();
      }
      return model;
    } catch (error) {
      session.release();
      for (const tensor of weights.values()) tensor.dispose();
      throw error;
    }
  }

  /**
   * Whether one token of one row comes out other than the same token as a row of a batch of two
   * (ONNX Runtime's CPU kernels take another path for a one-row product in some graphs: the MLA
   * and Mamba ones among the fixtures, not GQA's).
   */
  async #probeSingleRowPath(): Promise<boolean> {
    // One token after a two-token past: the decode step that batch size 1 runs.
    const firstRow = async (rows: number) => {
      const zeros = this.emptyStates(rows);
      const ids = (len: number) =>
        BigInt64Array.from({ length: rows * len }, (_, i) => BigInt((3 + i % len) % this.vocabSize));
      let past: Map<string, Tensor> | null = null;
      try {
        const prefill = await this.#forward({
          inputIds: ids(2),
          attentionMask: new BigInt64Array(rows * 2).fill(1n),
          positionIds: BigInt64Array.from({ length: rows * 2 }, (_, i) => BigInt(i % 2)),
          rows,
          len: 2,
          pastLen: 0,
          states: zeros,
          keep: 1,
          call: "prefill",
        });
        prefill.logits.dispose();
        past = prefill.states;
        const out = await this.#forward({
          inputIds: ids(1),
          attentionMask: new BigInt64Array(rows * 3).fill(1n),
          positionIds: new BigInt64Array(rows).fill(2n),
          rows,
          len: 1,
          pastLen: 2,
          states: past,
          fetchStates: false,
          call: "step",
        });
        const values = readFloat32(out.logits);
        out.logits.dispose();
        return values.subarray(0, values.length / rows);
      } finally {
        for (const t of zeros.values()) t.dispose();
        for (const t of past?.values() ?? []) t.dispose();
      }
    };
    const alone = await firstRow(1);
    const paired = await firstRow(2);
    return !alone.every((v, i) => v === paired[i]);
  }

  /**
   * Feeds two tokens from an empty state, then one and two tokens after them. The first two must
   * work; the last tells whether chunks may follow a past.
   */
  async #probeChunksAfterPast(path: string): Promise<boolean> {
    if (this.states.length === 0) return true;
    const zeros = this.emptyStates(1);
    const feed = (len: number, pastLen: number, states: ReadonlyMap<string, Tensor>, fetchStates: boolean) =>
      this.forward({
        inputIds: new BigInt64Array(len),
        attentionMask: new BigInt64Array(pastLen + len).fill(1n),
        positionIds: BigInt64Array.from({ length: len }, (_, i) => BigInt(pastLen + i)),
        rows: 1,
        len,
        pastLen,
        states,
        keep: 1,
        fetchStates,
        call: "prefill",
      });
    const dispose = (outs: Iterable<Tensor>) => {
      for (const t of outs) t.dispose();
    };
    let first: Outputs | null = null;
    try {
      first = await feed(2, 0, zeros, true);
      first.logits.dispose();
      try {
        (await feed(1, 2, first.states, false)).logits.dispose();
      } catch (error) {
        throw new UserError(
          `Cannot use ${path} as it rejects one new token after a past (${
            (error as Error).message.split("\n")[0]
          }): export the model with a past/present cache that decoding can feed`,
        );
      }
      try {
        (await feed(2, 2, first.states, false)).logits.dispose();
        return true;
      } catch (error) {
        if (!(error instanceof ModelRunError)) throw error;
        return false;
      }
    } finally {
      dispose(zeros.values());
      if (first) dispose(first.states.values());
    }
  }

  /**
   * The state of `rows` rows that hold no token yet: growing states of length 0, fixed states
   * zeroed, in host memory (the first call moves them to the device). The caller owns them.
   */
  emptyStates(rows: number): Map<string, Tensor> {
    return new Map(this.states.map((spec) => {
      const shape = concreteShape(spec, rows, 0);
      const bytes = shape.reduce((a, b) => a * b, 1) * (spec.dtype === "float16" ? 2 : 4);
      return [spec.input, Tensor.fromHost(spec.dtype, new Uint8Array(bytes), shape)];
    }));
  }

  /** Whether one-token one-row calls run as two identical rows (see {@linkcode OnnxModel.forward}). */
  get pairsSingleRows(): boolean {
    return this.#pairSingleRows;
  }

  /**
   * Runs one forward call. Where the load probe found that ONNX Runtime's CPU kernels take another
   * path for a one-row product (the MLA and Mamba graphs), a call of one token of one row runs as
   * two identical rows, so a batch-1 step is bit-identical to the same row inside a batch; other
   * graphs (GQA's) skip the doubled work.
   */
  forward(feeds: Feeds): Promise<Outputs> {
    if (this.#static) return this.#static.forward(feeds);
    if (this.#pairSingleRows && feeds.rows === 1 && feeds.len === 1) return this.#forwardPaired(feeds);
    return this.#forward(feeds);
  }

  async #forwardPaired(feeds: Feeds): Promise<Outputs> {
    const twice = (a: BigInt64Array<ArrayBuffer>) => {
      const out = new BigInt64Array(a.length * 2);
      out.set(a);
      out.set(a, a.length);
      return out;
    };
    const names = [...feeds.states.keys()];
    const doubled = this.gatherRows([...feeds.states.values()], [0, 0]);
    const states = new Map(names.map((name, i) => [name, doubled[i]]));
    try {
      const out = await this.#forward({
        ...feeds,
        rows: 2,
        inputIds: twice(feeds.inputIds),
        attentionMask: twice(feeds.attentionMask),
        positionIds: twice(feeds.positionIds),
        states,
      });
      const outputs = [out.logits, ...out.states.values()];
      const [logits, ...firsts] = this.gatherRows(outputs, [0]);
      for (const t of outputs) t.dispose();
      return {
        logits,
        logitsLen: out.logitsLen,
        states: new Map([...out.states.keys()].map((name, i) => [name, firsts[i]])),
      };
    } finally {
      for (const t of states.values()) t.dispose();
    }
  }

  async #forward(feeds: Feeds): Promise<Outputs> {
    const missing = this.states.filter((s) => !feeds.states.has(s.input)).map((s) => s.input);
    if (missing.length > 0) {
      throw new StateMismatchError(
        `Cannot run the model as state inputs ${missing.join(", ")} are missing: graph expects ` +
          `${this.states.length} state inputs`,
      );
    }
    const owned: Tensor[] = [];
    const host = (type: "int64" | "bool", data: ArrayBufferView, dims: number[]) => {
      const tensor = Tensor.fromHost(type, data, dims);
      owned.push(tensor);
      return tensor;
    };
    const inputs = new Map<string, Tensor>([
      ["input_ids", host("int64", feeds.inputIds, [feeds.rows, feeds.len])],
      ["attention_mask", host("int64", feeds.attentionMask, [feeds.rows, feeds.pastLen + feeds.len])],
    ]);
    if (this.hasPositionIds) {
      inputs.set("position_ids", host("int64", feeds.positionIds, [feeds.rows, feeds.len]));
    }
    if (this.#usesCacheBranch) {
      inputs.set("use_cache_branch", host("bool", Uint8Array.of(feeds.pastLen > 0 ? 1 : 0), [1]));
    }
    const keep = this.hasLogitsToKeep ? Math.min(feeds.keep ?? 0, feeds.len) : 0;
    if (this.hasLogitsToKeep) {
      inputs.set("num_logits_to_keep", host("int64", BigInt64Array.of(BigInt(keep)), []));
    }
    for (const spec of this.states) inputs.set(spec.input, feeds.states.get(spec.input)!);
    const fetchStates = feeds.fetchStates ?? true;
    const requests: OutputRequest[] = [{ name: "logits", where: "device" }];
    if (fetchStates) {
      for (const spec of this.states) {
        requests.push({ name: spec.output, where: "device" });
      }
    }
    let result: Map<string, Tensor>;
    try {
      result = await this.#session.run(inputs, requests, {
        shrinkArena: feeds.shrinkArena ?? false,
        onWorker: feeds.rows * feeds.len > SHORT_CALL_TOKENS,
      });
    } catch (error) {
      if (!(error instanceof OrtError)) throw error;
      throw ModelRunError.of(
        basename(this.dir),
        feeds.call ?? "step",
        feeds.rows,
        feeds.len,
        feeds.pastLen,
        error.message,
      );
    } finally {
      for (const tensor of owned) tensor.dispose();
    }
    const logits = result.get("logits")!;
    const states = new Map<string, Tensor>();
    if (fetchStates) { for (const spec of this.states) states.set(spec.input, result.get(spec.output)!); }
    return { logits, logitsLen: keep > 0 ? keep : feeds.len, states };
  }

  /**
   * Gives the device arenas' unused memory back: a one-token call that asks ONNX Runtime to shrink
   * the model's arena, and one for the scoring graph's where it is open.
   */
  async trimArena(): Promise<void> {
    const states = this.staticCache ? this.cacheBuffers(1, 2) : this.emptyStates(1);
    try {
      const out = await this.forward({
        inputIds: new BigInt64Array(1),
        attentionMask: BigInt64Array.of(1n),
        positionIds: new BigInt64Array(1),
        rows: 1,
        len: 1,
        pastLen: 0,
        states,
        fetchStates: false,
        shrinkArena: true,
        slots: { past: [0], real: [1], logitsIndex: new BigInt64Array(1), logitsLen: 1 },
      });
      out.logits.dispose();
      await this.#static?.trimScoreArena(states);
    } finally {
      for (const tensor of states.values()) tensor.dispose();
    }
  }

  /**
   * Cache buffers of `rows` rows and `capacity` slots each, zeroed (a static cache's); those of one
   * shape share a block, so their rows copy together (see `Session.gatherRows`).
   */
  cacheBuffers(rows: number, capacity: number): Map<string, Tensor> {
    const buffers = this.#session.zerosMany(
      this.states.map((spec) => ({ type: spec.dtype, dims: concreteShape(spec, rows, capacity) })),
    );
    return new Map(this.states.map((spec, i) => [spec.input, buffers[i]]));
  }

  /**
   * Copies of `buffers` (a static cache's) in longer ones of `capacity` slots, or new zeroed ones
   * of `rows` rows where there are none yet. The caller owns the result and still owns `buffers`.
   */
  widenCache(buffers: ReadonlyMap<string, Tensor>, rows: number, capacity: number): Map<string, Tensor> {
    if (buffers.size === 0) return this.cacheBuffers(rows, capacity);
    const wider = this.#session.widen(
      this.states.map((s) => buffers.get(s.input)!),
      this.states[0].seqAxis!,
      capacity,
    );
    return new Map(this.states.map((spec, i) => [spec.input, wider[i]]));
  }

  /** For each tensor, a copy of the given rows (axis 0) of it, in the same memory; a row may repeat. */
  gatherRows(tensors: readonly Tensor[], indices: readonly number[]): Tensor[] {
    return this.#session.gatherRows(tensors, indices);
  }

  /**
   * For each pick of `logits` (a forward call's, wherever they are), the log-probability of its
   * target and the argmax, computed on the model's device.
   */
  pick(logits: Tensor, picks: readonly Pick[]): Promise<Picked> {
    this.#head ??= LogitsHead.open(
      (bytes) => openSession(bytes, this.device, this.#options),
      this.#logitsType,
      this.vocabSize,
    );
    return this.#head.read(logits, picks);
  }

  /** Frees the session. */
  release(): Promise<void> {
    this.#head?.release();
    this.#head = null;
    this.#static?.release();
    this.#session.release();
    for (const tensor of this.#weights.values()) tensor.dispose();
    return Promise.resolve();
  }
}

/**
 * The model's session: with CUDA graphs where {@linkcode LoadOptions.cudaGraphs} says they apply,
 * else (or where ONNX Runtime refuses them for this graph) without.
 */
function openModelSession(
  path: string,
  device: Device,
  options: LoadOptions,
  initializers: ReadonlyMap<string, Tensor>,
): Session {
  if (device !== "cuda" || !options.maxPositions || !wantsCudaGraphs(path, options)) {
    return openSession(path, device, options, initializers);
  }
  try {
    return openSession(path, device, { ...options, cudaGraphs: true }, initializers);
  } catch (error) {
    if (!(error instanceof UserError && /graph capture/i.test(error.message))) throw error;
    return openSession(path, device, options, initializers);
  }
}

/** Opens and checks a static cache's scoring graph (see `score_graph.ts`). */
function openScoreGraph(
  path: string,
  main: CheckedGraph,
  options: LoadOptions,
  initializers: ReadonlyMap<string, Tensor>,
): ScoreGraph {
  const device = options.device ?? "cpu";
  const { session } = openSharing(
    path,
    initializers,
    (shared) => openSession(path, device, { ...options, cudaGraphs: false }, shared),
  );
  try {
    const graph = checkGraphContract(path, session.inputs, session.outputs, options.stateHints);
    checkScoreGraph(path, session.inputs, graph, main);
    return new ScoreGraph(session, graph.states, graph.vocabSize, graph.logitsType);
  } catch (error) {
    session.release();
    throw error;
  }
}

/**
 * `open` with the shared weights `initializers`, or, where ONNX Runtime will not take them, without
 * (the session reads its own copy, and one line says so; a fault of the graph itself then fails
 * again, on its own). `shared`: whether the weights were taken.
 */
function openSharing(
  path: string,
  initializers: ReadonlyMap<string, Tensor>,
  open: (initializers: ReadonlyMap<string, Tensor>) => Session,
): { session: Session; shared: boolean } {
  try {
    return { session: open(initializers), shared: initializers.size > 0 };
  } catch (error) {
    if (initializers.size === 0) throw error;
    const session = open(new Map());
    console.error(
      `kvbench: ${path} reads a copy of its weights of its own, as ONNX Runtime would not take the shared ones (${
        String((error as Error)?.message ?? error).split("\n")[0]
      })`,
    );
    return { session, shared: false };
  }
}

function wantsCudaGraphs(path: string, options: LoadOptions): boolean {
  if (options.cudaGraphs === false || process.env.KVBENCH_CUDA_GRAPHS === "0") return false;
  try {
    const { inputs } = readOnnxSignature(path);
    // GroupQueryAttention has no float32 CUDA kernel: such a graph runs attention on the CPU.
    return inputs.some((i) => i.name === "seqlens_k") &&
      inputs.some((i) => /^past_/.test(i.name) && i.type === "float16");
  } catch {
    return false;
  }
}

/**
 * Opens an ONNX Runtime session on `device` for the file at `source` or the model it holds,
 * turning a missing provider library, a provider that won't start and a rejected graph into
 * one-line {@linkcode UserError}s. `KVBENCH_ORT_PROFILE=DIR` writes ONNX Runtime's per-node profile
 * (JSON) into DIR when the session is released. `initializers`: weights the session takes from
 * these tensors (see `shared_weights.ts`).
 */
export function openSession(
  source: string | Uint8Array<ArrayBuffer>,
  device: Device,
  options: Omit<LoadOptions, "device"> = {},
  initializers: ReadonlyMap<string, Tensor> = new Map(),
): Session {
  const path = typeof source === "string" ? source : "kvbench's logits head";
  const missing = missingProviderLibraries(device);
  if (missing.length > 0) {
    throw new UserError(
      `Cannot use --device ${device} as ${missing.join(" and ")} ${
        missing.length > 1 ? "are" : "is"
      } missing from ` +
        `${bindingDir()}: run \`deno task setup:cuda\` to install the CUDA provider, or use --device cpu`,
    );
  }
  const profileDir = process.env.KVBENCH_ORT_PROFILE;
  try {
    const name = typeof source === "string" ? basename(source, ".onnx") : "logits_head";
    return Session.open(source, {
      device,
      intraOpThreads: options.intraOpThreads ?? 0,
      tf32: options.tf32 ?? false,
      cudaGraphs: options.cudaGraphs ?? false,
      initializers,
      ...(profileDir ? { profilePrefix: join(profileDir, name) } : {}),
    });
  } catch (error) {
    if (!(error instanceof OrtError)) throw error;
    const reason = error.message.split("\n")[0];
    if (device !== "cpu" && (error.call !== "CreateSession" || /provider|cuda|\.so/i.test(reason))) {
      throw new UserError(
        `Cannot start the ${device} execution provider for ${path}: ${reason}. The provider is installed but ` +
          "could not load its CUDA 13 / cuDNN 9 libraries: put them on LD_LIBRARY_PATH " +
          "(e.g. /usr/local/cuda/targets/x86_64-linux/lib), or use --device cpu",
      );
    }
    throw new UserError(
      `Cannot load ${path} as onnxruntime rejected it (${reason}): re-export the model or ` +
        `check that its external data files sit beside it`,
    );
  }
}
