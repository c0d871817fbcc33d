/**
 * Decode steps of a static-cache graph captured as CUDA graphs and replayed.
 *
 * A replay launches what the capture recorded and reads no feeds: every input and output must sit
 * where it sat at capture, with the same shape. So each graph owns small fixed tensors (the step's
 * token ids, `seqlens_k`, `logits_index`, the logits) whose values are written in place before a
 * replay, and is keyed by its batch size, its cache capacity and the addresses of the cache
 * buffers it reads and writes: a stream that decodes in the same buffers (or in new ones that
 * landed at the same addresses) replays it; others capture their own. `total_sequence_length`, a
 * host input that the capture freezes (with the kernel choices that follow from it), is the
 * buffers' capacity (at most the model's positions) on every such step, so the capturing run and
 * every replay compute alike. Uncaptured steps pass the longest row's length instead; on an H100
 * both gave the same logits (scripts/gpu/graph_check.ts).
 *
 * On CPU the same bookkeeping runs without capture, which is how the tests hold it to the plain path.
 *
 * @module
 */

import type { OutputRequest, Session } from "./ort/session.ts";
import { Tensor } from "./ort/tensor.ts";
import type { StateSpec } from "./state.ts";

/**
 * Graphs one model captures at most: ONNX Runtime keeps each until the session ends, and a run of
 * many batches in buffers at new addresses would otherwise add one per batch. Steps beyond run
 * uncaptured.
 */
export const MAX_GRAPHS = 64;

/** One captured (or to be captured) decode step and its fixed tensors. */
interface DecodeGraph {
  id: number;
  ids: Tensor;
  seqlens: Tensor;
  index: Tensor;
  total: Tensor;
  logits: Tensor;
}

/** How the graph's cache outputs map to its inputs. */
export interface CacheBindings {
  /** The state specs, in graph order. */
  states: readonly StateSpec[];
  /** Second outputs bound to a state's buffer too (GroupQueryAttention's shared value output). */
  shared: readonly { output: string; input: string }[];
}

/** A static-cache graph as its runs need it: its session, its caches and its logits. */
export interface StaticGraph {
  /** The model's session. */
  session: Session;
  /** How its cache outputs map to its inputs. */
  bindings: CacheBindings;
  /** Element type of its logits. */
  logitsType: "float32" | "float16";
  /** Size of the logits' last axis. */
  vocab: number;
  /**
   * The rows of its RoPE tables (the sidecar's `max_length`), null where unknown: on CUDA,
   * GroupQueryAttention refuses a `total_sequence_length` beyond them; on CPU it reads past them.
   */
  maxPositions: number | null;
}

/** The decode graphs of one static-cache model. */
export class DecodeGraphs {
  readonly #graph: StaticGraph;
  readonly #maxPositions: number;
  readonly #graphs = new Map<string, DecodeGraph>();

  /**
   * Decode graphs of `graph`, whose `maxPositions` must be known: a captured step's
   * `total_sequence_length` is the capacity, within them.
   */
  constructor(graph: StaticGraph) {
    if (graph.maxPositions === null) {
      throw new RangeError(
        "Cannot capture decode steps without the model's positions (its sidecar's max_length)",
      );
    }
    this.#graph = graph;
    this.#maxPositions = graph.maxPositions;
  }

  /** How many graphs exist (captured, or made and then run plainly on CPU). */
  get size(): number {
    return this.#graphs.size;
  }

  /**
   * One token a row (`ids`) after each row's `past` tokens, in `buffers` (updated in place); the
   * logits (`rows × 1 × vocab`) land in `into` or a new tensor the caller owns. Null, having run
   * nothing, when these buffers have no graph and there is no room for one.
   */
  async step(
    ids: BigInt64Array<ArrayBuffer>,
    past: readonly number[],
    buffers: ReadonlyMap<string, Tensor>,
    into: Tensor | null,
  ): Promise<Tensor | null> {
    const rows = past.length;
    const key = this.#key(rows, buffers);
    let graph = this.#graphs.get(key);
    if (graph === undefined) {
      if (this.#graphs.size >= MAX_GRAPHS) return null;
      graph = this.#make(rows, this.#capacity(buffers));
      this.#graphs.set(key, graph);
    }
    const { session, bindings, logitsType, vocab } = this.#graph;
    session.write(graph.ids, ids);
    // seqlens_k is a row's length after the step, less one: its past.
    session.write(graph.seqlens, Int32Array.from(past));
    const inputs = new Map<string, Tensor>([
      ["input_ids", graph.ids],
      ["seqlens_k", graph.seqlens],
      ["total_sequence_length", graph.total],
      ["logits_index", graph.index],
    ]);
    const requests: OutputRequest[] = [{ name: "logits", where: "device", into: graph.logits }];
    for (const spec of bindings.states) {
      const buffer = buffers.get(spec.input)!;
      inputs.set(spec.input, buffer);
      requests.push({ name: spec.output, where: "device", into: buffer });
    }
    for (const { output, input } of bindings.shared) {
      requests.push({ name: output, where: "device", into: buffers.get(input)! });
    }
    await session.run(inputs, requests, { graph: graph.id });
    const out = into ?? session.empty(logitsType, [rows, 1, vocab]);
    try {
      session.copy(out, graph.logits);
    } catch (error) {
      if (into === null) out.dispose();
      throw error;
    }
    return out;
  }

  /** Frees the fixed tensors (the captured graphs go with the session). */
  release(): void {
    for (const graph of this.#graphs.values()) {
      for (const tensor of [graph.ids, graph.seqlens, graph.index, graph.total, graph.logits]) {
        tensor.dispose();
      }
    }
    this.#graphs.clear();
  }

  #capacity(buffers: ReadonlyMap<string, Tensor>): number {
    const spec = this.#graph.bindings.states[0];
    return buffers.get(spec.input)!.dims[spec.seqAxis!];
  }

  #key(rows: number, buffers: ReadonlyMap<string, Tensor>): string {
    const addresses = this.#graph.bindings.states.map((spec) =>
      String(Deno.UnsafePointer.value(buffers.get(spec.input)!.dataPointer()))
    );
    return [rows, this.#capacity(buffers), ...addresses].join(":");
  }

  #make(rows: number, capacity: number): DecodeGraph {
    const { session, logitsType, vocab } = this.#graph;
    const total = Math.min(capacity, this.#maxPositions);
    const made: Tensor[] = [];
    const keep = (tensor: Tensor) => {
      made.push(tensor);
      return tensor;
    };
    try {
      return {
        id: this.#graphs.size + 1,
        ids: keep(session.zeros("int64", [rows, 1])),
        seqlens: keep(session.zeros("int32", [rows])),
        index: keep(session.zeros("int64", [rows, 1])),
        total: keep(Tensor.fromHost("int32", Int32Array.of(total), [])),
        logits: keep(session.empty(logitsType, [rows, 1, vocab])),
      };
    } catch (error) {
      for (const tensor of made) tensor.dispose();
      throw error;
    }
  }
}
