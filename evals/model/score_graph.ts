/**
 * A static export's scoring graph (sidecar `score_graph`): the dynamic fused form of the same
 * weights, which reads the static cache's buffers as its past. GroupQueryAttention takes a chunk
 * after a past for one row only, so without it the continuations of a scoring batch run a position
 * at a time across the rows; the scoring graph's Attention op takes them for every row in one call,
 * each row's past masked past its own length. Only calls whose state is not kept come here (its
 * cache comes out grown, not written into the buffers).
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";
import type { CheckedGraph } from "./contract.ts";
import type { OutputRequest, Session } from "./ort/session.ts";
import { Tensor } from "./ort/tensor.ts";
import type { StateSpec } from "./state.ts";

/**
 * Keys (past slots and chunk) are padded to a multiple of this: ONNX Runtime's CUDA `Attention`
 * takes its memory-efficient kernel with a mask only then, and otherwise one that holds the fp32
 * scores of every head and key (see `OnnxModel.keyLengthMultiple`).
 */
const KEY_LENGTH_MULTIPLE = 4;

/**
 * Checks that the graph at `path` can score from the static cache of `main`: a dynamic graph
 * (mask, positions, `num_logits_to_keep`) with the same states, element types and vocabulary.
 *
 * @throws {UserError} naming what differs and how to export it.
 */
export function checkScoreGraph(
  path: string,
  inputs: readonly { name: string }[],
  graph: CheckedGraph,
  main: CheckedGraph,
): void {
  const fix =
    "re-export the model with `--graph static`, which writes it, or drop score_graph from kvbench.json";
  const names = new Set(inputs.map((i) => i.name));
  const missing = ["attention_mask", "position_ids", "num_logits_to_keep"].filter((n) => !names.has(n));
  if (names.has("seqlens_k") || missing.length > 0) {
    throw new UserError(
      `Cannot use ${path} as a scoring graph as it is not a dynamic fused graph (${
        names.has("seqlens_k") ? "it takes seqlens_k: a static graph" : `no ${missing.join(", ")}`
      }): ${fix}`,
    );
  }
  const layout = (states: readonly StateSpec[]) =>
    states.map((s) => `${s.input}:${s.dtype}:${s.seqAxis}`).join(",");
  if (layout(graph.states) !== layout(main.states)) {
    throw new UserError(
      `Cannot use ${path} as a scoring graph as its states (${layout(graph.states)}) are not the static ` +
        `graph's (${layout(main.states)}): ${fix}`,
    );
  }
  if (graph.vocabSize !== main.vocabSize || graph.logitsType !== main.logitsType) {
    throw new UserError(
      `Cannot use ${path} as a scoring graph as its logits (${graph.logitsType} × ${graph.vocabSize}) are ` +
        `not the static graph's (${main.logitsType} × ${main.vocabSize}): ${fix}`,
    );
  }
}

/** One call of the scoring graph: a right-padded chunk after each row's tokens in the buffers. */
export interface ScoreCall {
  /** Token ids, `rows × len`, each row's real tokens first. */
  ids: BigInt64Array<ArrayBuffer>;
  /** Number of rows. */
  rows: number;
  /** Tokens per row in the chunk. */
  len: number;
  /** Each row's tokens already in its buffer. */
  past: readonly number[];
  /** Each row's real tokens in the chunk. */
  real: readonly number[];
  /** The static cache's buffers by state input name, `rows` rows each; read, not written. */
  states: ReadonlyMap<string, Tensor>;
  /** Run on a worker thread (see `Session.run`). */
  onWorker: boolean;
  /** Give the session's unused arena memory back after the call (see `Session.run`). */
  shrinkArena?: boolean;
}

/** The scoring graph of a static-cache model (`StaticCacheRuns` opens it for the first call it serves). */
export class ScoreGraph {
  readonly #session: Session;
  readonly #states: readonly StateSpec[];
  readonly #vocab: number;
  readonly #logitsType: "float32" | "float16";

  /** The graph in `session` (checked by {@linkcode checkScoreGraph}) for states `states`. */
  constructor(
    session: Session,
    states: readonly StateSpec[],
    vocab: number,
    logitsType: "float32" | "float16",
  ) {
    this.#session = session;
    this.#states = states;
    this.#vocab = vocab;
    this.#logitsType = logitsType;
  }

  /**
   * The logits of every chunk position, `rows × len × vocab` (a row's real token j at position j;
   * positions past a row's real tokens hold padding's logits, never read). The chunk is fed after
   * `front` padding slots so that keys come to a multiple of {@linkcode KEY_LENGTH_MULTIPLE}; each
   * row sees its own past slots, its earlier chunk tokens and nothing else.
   */
  async run(call: ScoreCall): Promise<Tensor> {
    const { rows, len, past, real } = call;
    const first = this.#states[0];
    const capacity = call.states.get(first.input)!.dims[first.seqAxis!];
    const front = (KEY_LENGTH_MULTIPLE - (capacity + len) % KEY_LENGTH_MULTIPLE) % KEY_LENGTH_MULTIPLE;
    const width = front + len;
    const keys = capacity + width;
    const inputIds = new BigInt64Array(rows * width);
    const positionIds = new BigInt64Array(rows * width);
    // int64 0/1 written through the low words (see Stream).
    const mask = new BigInt64Array(rows * keys);
    const words = new Int32Array(mask.buffer);
    for (let r = 0; r < rows; r++) {
      for (let s = 0; s < past[r]; s++) words[2 * (r * keys + s)] = 1;
      for (let j = 0; j < width; j++) {
        const k = j - front;
        const isReal = k >= 0 && k < real[r];
        if (isReal) {
          inputIds[r * width + j] = call.ids[r * len + k];
          words[2 * (r * keys + capacity + j)] = 1;
        }
        // Padding sits at a position of the row's own chunk: within the RoPE tables.
        positionIds[r * width + j] = BigInt(past[r] + Math.min(Math.max(k, 0), Math.max(real[r] - 1, 0)));
      }
    }
    const owned = [
      Tensor.fromHost("int64", inputIds, [rows, width]),
      Tensor.fromHost("int64", mask, [rows, keys]),
      Tensor.fromHost("int64", positionIds, [rows, width]),
      Tensor.fromHost("int64", BigInt64Array.of(BigInt(len)), []),
    ];
    const inputs = new Map<string, Tensor>([
      ["input_ids", owned[0]],
      ["attention_mask", owned[1]],
      ["position_ids", owned[2]],
      ["num_logits_to_keep", owned[3]],
    ]);
    for (const spec of this.#states) inputs.set(spec.input, call.states.get(spec.input)!);
    const logits = this.#session.empty(this.#logitsType, [rows, len, this.#vocab]);
    const requests: OutputRequest[] = [{ name: "logits", where: "device", into: logits }];
    try {
      await this.#session.run(inputs, requests, { onWorker: call.onWorker, shrinkArena: call.shrinkArena });
      return logits;
    } catch (error) {
      logits.dispose();
      throw error;
    } finally {
      for (const tensor of owned) tensor.dispose();
    }
  }

  /** Frees the session. */
  release(): void {
    this.#session.release();
  }
}
