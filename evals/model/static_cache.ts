/**
 * How a graph with a static cache runs (see `OnnxModel.staticCache`): the buffers a stream hands
 * in are bound as both past and present, each row's length replaces the mask and positions, and a
 * call that GroupQueryAttention would refuse is split into calls it takes, or, for continuations to
 * score, sent to the export's scoring graph (`score_graph.ts`). Decode steps go to
 * `decode_graphs.ts` where CUDA graphs are on.
 *
 * @module
 */

import { ModelRunError } from "../../core/errors.ts";
import type { DecodeGraphs, StaticGraph } from "./decode_graphs.ts";
import type { Feeds, Outputs } from "./onnx_model.ts";
import { OrtError } from "./ort/api.ts";
import type { OutputRequest } from "./ort/session.ts";
import { Tensor } from "./ort/tensor.ts";
import type { ScoreGraph } from "./score_graph.ts";

/** The runs of one static-cache model. */
export class StaticCacheRuns {
  readonly #graph: StaticGraph;
  readonly #name: string;
  readonly #shortCallTokens: number;
  #graphs: DecodeGraphs | null;
  #openScore: (() => ScoreGraph) | null;
  #score: ScoreGraph | null = null;

  /**
   * Runs of `graph`, named `name` in errors; `graphs` captures its decode steps (null: none); calls
   * of more than `shortCallTokens` tokens go to a worker thread; `openScore` opens the export's
   * scoring graph on first use (null: it has none).
   */
  constructor(
    graph: StaticGraph,
    name: string,
    graphs: DecodeGraphs | null,
    shortCallTokens: number,
    openScore: (() => ScoreGraph) | null = null,
  ) {
    this.#graph = graph;
    this.#name = name;
    this.#graphs = graphs;
    this.#shortCallTokens = shortCallTokens;
    this.#openScore = openScore;
  }

  /** The decode graphs, while steps are captured (null: none, or a capture failed). */
  get graphs(): DecodeGraphs | null {
    return this.#graphs;
  }

  /** Whether the scoring graph has been opened (it opens on the first call it serves). */
  get scoreGraphOpen(): boolean {
    return this.#score !== null;
  }

  /**
   * Gives the scoring graph's unused arena memory back, where it is open: a one-token call on
   * `buffers` (one row, at least two slots) that asks ONNX Runtime to shrink its arena.
   */
  async trimScoreArena(buffers: ReadonlyMap<string, Tensor>): Promise<void> {
    if (this.#score === null) return;
    const logits = await this.#score.run({
      ids: new BigInt64Array(1),
      rows: 1,
      len: 1,
      past: [1],
      real: [1],
      states: buffers,
      onWorker: false,
      shrinkArena: true,
    });
    logits.dispose();
  }

  /** Frees the decode graphs' tensors and the scoring graph. */
  release(): void {
    this.#graphs?.release();
    this.#graphs = null;
    this.#score?.release();
    this.#score = null;
  }

  /**
   * A call on a static cache: the states are buffers of at least `max(past) + len` slots a row,
   * written in place and returned as they are. Rows are right-padded: a row's `real` tokens come
   * first. GroupQueryAttention takes a chunk after a past only for one row (ONNX Runtime:
   * "batch_size must be 1 when sequence_length > 1 and past context is given"), so such a call is
   * split: into one call per row, or, when every position's logits are wanted and the chunk is
   * shorter than the batch (continuations to score), into batched calls per position, whose logits
   * then come step-major (see {@linkcode Outputs.stepMajor}). A split call feeds real tokens only:
   * a padding token after a row near the model's last position would sit past its RoPE tables.
   * Where the export has a scoring graph, a call of many rows whose state is not kept and whose
   * every position's logits are wanted (continuations to score) runs there instead, in one call.
   */
  async forward(feeds: Feeds): Promise<Outputs> {
    const slots = feeds.slots;
    if (!slots) {
      throw new RangeError("Cannot run a static-cache graph without slots: feed it through a Stream");
    }
    const { rows, len } = feeds;
    const K = slots.logitsLen;
    const states = new Map(feeds.states);
    if (len === 1 || Math.max(...slots.past) === 0) {
      const logits = await this.#run(
        feeds,
        feeds.inputIds,
        len,
        slots.past,
        slots.logitsIndex,
        K,
        states,
        null,
      );
      return { logits, logitsLen: K, states };
    }
    if (
      this.#openScore && feeds.fetchStates === false && rows > 1 && K === len && isIdentity(slots, K) &&
      this.#scoreGraph()
    ) {
      return { logits: await this.#scoreCall(feeds, states), logitsLen: K, states };
    }
    const session = this.#graph.session;
    const vocab = this.#graph.vocab;
    if (K === len && len < rows) {
      const logits = session.zeros(this.#graph.logitsType, [len, rows, vocab]);
      const stepBytes = logits.byteLength / len;
      try {
        for (let t = 0; t < len; t++) {
          // Rows that still have a token at t, in runs of neighbours (one run when the rows come
          // longest first, as LanguageModel orders continuations).
          for (const { from, to } of runsOf(rows, (r) => slots.real[r] > t)) {
            const n = to - from;
            const ids = BigInt64Array.from({ length: n }, (_, i) => feeds.inputIds[(from + i) * len + t]);
            const past = slots.past.slice(from, to).map((p) => p + t);
            await this.#onRows(states, from, n, (views) => {
              const out = session.view(logits, t * stepBytes + from * (stepBytes / rows), [n, 1, vocab]);
              return this.#run(feeds, ids, 1, past, new BigInt64Array(n), 1, views, out).finally(() =>
                out.dispose()
              );
            });
          }
        }
      } catch (error) {
        logits.dispose();
        throw error;
      }
      return { logits, logitsLen: K, states, stepMajor: true };
    }
    const logits = session.zeros(this.#graph.logitsType, [rows, K, vocab]);
    const rowBytes = logits.byteLength / rows;
    try {
      for (let r = 0; r < rows; r++) {
        const real = slots.real[r];
        if (real === 0) continue;
        const ids = feeds.inputIds.slice(r * len, r * len + real);
        // Every index is below `real` (see Stream), so the row's logits need no padding.
        const index = slots.logitsIndex.slice(r * K, (r + 1) * K);
        await this.#onRows(states, r, 1, (views) => {
          const out = session.view(logits, r * rowBytes, [1, K, vocab]);
          return this.#run(feeds, ids, real, [slots.past[r]], index, K, views, out).finally(() =>
            out.dispose()
          );
        });
      }
    } catch (error) {
      logits.dispose();
      throw error;
    }
    return { logits, logitsLen: K, states };
  }

  /**
   * The scoring graph, opened on first use; null where it would not open (the continuations are
   * then scored a position at a time, as without one, and one line says why).
   */
  #scoreGraph(): ScoreGraph | null {
    if (this.#score === null && this.#openScore !== null) {
      try {
        this.#score = this.#openScore();
      } catch (error) {
        this.#openScore = null;
        console.error(
          `kvbench: ${this.#name}'s scoring graph would not open, so continuations are scored a position at a time: ${
            String((error as Error)?.message ?? error).split("\n")[0]
          }`,
        );
      }
    }
    return this.#score;
  }

  /** A call through the scoring graph: every row's chunk at once, the buffers read as its past. */
  async #scoreCall(feeds: Feeds, states: ReadonlyMap<string, Tensor>): Promise<Tensor> {
    const { past, real } = feeds.slots!;
    this.#checkPositions(Math.max(...past.map((p, r) => p + real[r])));
    try {
      return await this.#score!.run({
        ids: feeds.inputIds,
        rows: feeds.rows,
        len: feeds.len,
        past,
        real,
        states,
        onWorker: feeds.rows * feeds.len > this.#shortCallTokens,
      });
    } catch (error) {
      throw this.#failure(feeds, feeds.rows, feeds.len, past, error);
    }
  }

  /** Refuses a run that would reach past the model's positions (its RoPE tables). */
  #checkPositions(total: number): void {
    const positions = this.#graph.maxPositions;
    if (positions !== null && total > positions) {
      throw new RangeError(
        `Cannot run ${this.#name} to position ${total}: it has ${positions} (a caller fed past its last position)`,
      );
    }
  }

  /** Calls `run` with views of rows `from`…`from + n - 1` of every buffer (the buffers themselves for all rows). */
  async #onRows<T>(
    states: ReadonlyMap<string, Tensor>,
    from: number,
    n: number,
    run: (views: ReadonlyMap<string, Tensor>) => Promise<T>,
  ): Promise<T> {
    const rows = states.values().next().value?.dims[0] ?? n;
    if (from === 0 && n === rows) return await run(states);
    const views = new Map([...states].map(([name, buffer]) => [
      name,
      this.#graph.session.view(buffer, from * buffer.byteLength / rows, [n, ...buffer.dims.slice(1)]),
    ]));
    try {
      return await run(views);
    } finally {
      for (const view of views.values()) view.dispose();
    }
  }

  /**
   * One run of a static-cache graph: `ids` (`past.length` rows of `len`) after each row's `past`
   * tokens, the logits at `index` (K a row) into `into` or a new tensor, the buffers updated in place.
   */
  async #run(
    feeds: Feeds,
    ids: BigInt64Array<ArrayBuffer>,
    len: number,
    past: readonly number[],
    index: BigInt64Array<ArrayBuffer>,
    K: number,
    states: ReadonlyMap<string, Tensor>,
    into: Tensor | null,
  ): Promise<Tensor> {
    const n = past.length;
    const total = Math.max(...past) + len;
    this.#checkPositions(total);
    // Generation steps only: continuations to score run a few positions in buffers made for
    // their batch, where a capture (three runs and the graph) would cost more than it saves.
    const graphs = this.#graphs;
    if (graphs && len === 1 && K === 1 && feeds.call !== "score" && !feeds.shrinkArena) {
      try {
        const out = await graphs.step(ids, past, states, into);
        if (out) return out;
      } catch (error) {
        if (!(error instanceof OrtError) || !this.#graph.session.cudaGraphs) {
          throw this.#failure(feeds, n, len, past, error);
        }
        // A step that ONNX Runtime could not capture runs plainly from now on (its cache write is
        // the same token at the same slot, so running it again is exact).
        console.error(
          `kvbench: decode steps of ${this.#name} run without CUDA graphs, as capturing one failed: ${
            error.message.split("\n")[0]
          }`,
        );
        this.#graphs = null;
        graphs.release();
      }
    }
    const int32 = (values: number[], dims: number[]) =>
      Tensor.fromHost("int32", Int32Array.from(values), dims);
    const owned = [
      Tensor.fromHost("int64", ids, [n, len]),
      int32(past.map((p) => p + len - 1), [n]),
      int32([total], []),
      Tensor.fromHost("int64", index, [n, K]),
    ];
    const inputs = new Map<string, Tensor>([
      ["input_ids", owned[0]],
      ["seqlens_k", owned[1]],
      ["total_sequence_length", owned[2]],
      ["logits_index", owned[3]],
    ]);
    // Into the engine's own memory, never the arena's (see Session.empty).
    const logits = into ?? this.#graph.session.empty(this.#graph.logitsType, [n, K, this.#graph.vocab]);
    const requests: OutputRequest[] = [{ name: "logits", where: "device", into: logits }];
    for (const spec of this.#graph.bindings.states) {
      const buffer = states.get(spec.input)!;
      inputs.set(spec.input, buffer);
      requests.push({ name: spec.output, where: "device", into: buffer });
    }
    for (const { output, input } of this.#graph.bindings.shared) {
      requests.push({ name: output, where: "device", into: states.get(input)! });
    }
    try {
      await this.#graph.session.run(inputs, requests, {
        shrinkArena: feeds.shrinkArena ?? false,
        onWorker: n * len > this.#shortCallTokens,
      });
      return logits;
    } catch (error) {
      if (into === null) logits.dispose();
      throw this.#failure(feeds, n, len, past, error);
    } finally {
      for (const tensor of owned) tensor.dispose();
    }
  }

  /** ONNX Runtime's failure of a static-cache run as one line that names the call; other errors as they are. */
  #failure(feeds: Feeds, n: number, len: number, past: readonly number[], error: unknown): unknown {
    if (!(error instanceof OrtError)) return error;
    return ModelRunError.of(this.#name, feeds.call ?? "step", n, len, Math.max(...past), error.message);
  }
}

/** Maximal runs of neighbouring rows among `rows` for which `keep(row)` holds. */
function runsOf(rows: number, keep: (row: number) => boolean): { from: number; to: number }[] {
  const runs: { from: number; to: number }[] = [];
  for (let r = 0; r < rows; r++) {
    if (!keep(r)) continue;
    const last = runs.at(-1);
    if (last && last.to === r) last.to = r + 1;
    else runs.push({ from: r, to: r + 1 });
  }
  return runs;
}

/** Whether every row's logits are wanted at each of its real tokens, in chunk order (scoring's ask). */
function isIdentity(slots: NonNullable<Feeds["slots"]>, K: number): boolean {
  return slots.real.every((n, r) => {
    if (n > K) return false;
    for (let p = 0; p < n; p++) if (slots.logitsIndex[r * K + p] !== BigInt(p)) return false;
    return true;
  });
}
