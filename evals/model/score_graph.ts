/**
 * Prefix-reuse scoring inside one onnxruntime call: `score.onnx` (written beside a model by
 * `scripts/export_decode_loop.py --score`) runs the decoder over the contexts, hands each
 * continuation a copy of its context's state inside the graph, and returns only the log-softmax
 * and argmax test of each target token. Neither the state nor a vocabulary-wide logits tensor
 * crosses to the host, which is what made scoring on the CUDA provider slow.
 *
 * @module
 */

import * as ort from "onnxruntime-node";
import { openBeside } from "./decode_loop.ts";
import type { OnnxModel } from "./onnx_model.ts";

/** The score graph's inputs, as `scripts/families/score_graph.py` writes them. */
const SCORE_INPUTS = [
  "context_ids",
  "context_mask",
  "continuation_ids",
  "continuation_mask",
  "owner",
  "targets",
];

/** One continuation to score: the context row it continues and its tokens. */
export interface ScoreRow {
  /** Index into the call's contexts. */
  context: number;
  /** The continuation's tokens (at least one). */
  continuation: readonly number[];
}

/** What a row scored: the summed log-probability and whether every token was the argmax. */
export interface RowScore {
  /** Sum of the continuation tokens' log-softmax (float32 in the graph, summed in float64). */
  logprob: number;
  /** Whether each continuation token was its position's argmax. */
  isGreedy: boolean;
}

/** A model's score graph (`score.onnx`). */
export class ScoreGraph {
  /** The decoder the graph wraps. */
  readonly model: OnnxModel;
  #session: ort.InferenceSession;

  private constructor(model: OnnxModel, session: ort.InferenceSession) {
    this.model = model;
    this.#session = session;
  }

  /**
   * Opens `model.dir/score.onnx` on the model's device.
   *
   * @throws {UserError} when the file is missing (with the command that writes it), the provider
   *   cannot start, or the graph is not a score graph.
   */
  static async load(model: OnnxModel): Promise<ScoreGraph> {
    const session = await openBeside(model, {
      what: "score graph",
      file: "score.onnx",
      flag: " --score",
      inputs: SCORE_INPUTS,
      outputs: ["logprobs", "greedy"],
    });
    return new ScoreGraph(model, session);
  }

  /**
   * Scores `rows` against `contexts` in one call: row `r`'s first token is predicted by the end of
   * `contexts[rows[r].context]`, each next one after the tokens before it.
   *
   * @throws {RangeError} when there are no contexts or rows, a context or continuation is empty,
   *   or a row names a context that is not there.
   */
  async score(contexts: readonly (readonly number[])[], rows: readonly ScoreRow[]): Promise<RowScore[]> {
    if (contexts.length === 0 || rows.length === 0) {
      throw new RangeError("Cannot score without contexts and rows");
    }
    if (contexts.some((c) => c.length === 0)) throw new RangeError("Cannot score after an empty context");
    for (const row of rows) {
      if (row.continuation.length === 0) throw new RangeError("Cannot score an empty continuation");
      if (!Number.isInteger(row.context) || row.context < 0 || row.context >= contexts.length) {
        throw new RangeError(`Cannot score a row of context ${row.context}: there are ${contexts.length}`);
      }
    }
    const width = Math.max(...contexts.map((c) => c.length));
    const contextIds = new BigInt64Array(contexts.length * width);
    const contextMask = new BigInt64Array(contexts.length * width);
    contexts.forEach((context, g) => {
      const offset = g * width + width - context.length;
      context.forEach((token, j) => {
        contextIds[offset + j] = BigInt(token);
        contextMask[offset + j] = 1n;
      });
    });
    // Each row feeds its continuation but the last token; the graph needs at least one column.
    const tail = Math.max(1, ...rows.map((r) => r.continuation.length - 1));
    const ids = new BigInt64Array(rows.length * tail);
    const mask = new BigInt64Array(rows.length * tail);
    const targets = new BigInt64Array(rows.length * (tail + 1));
    rows.forEach((row, r) => {
      row.continuation.forEach((token, j) => {
        targets[r * (tail + 1) + j] = BigInt(token);
        if (j < row.continuation.length - 1) {
          ids[r * tail + j] = BigInt(token);
          mask[r * tail + j] = 1n;
        }
      });
    });
    const feeds: Record<string, ort.Tensor> = {
      context_ids: new ort.Tensor("int64", contextIds, [contexts.length, width]),
      context_mask: new ort.Tensor("int64", contextMask, [contexts.length, width]),
      continuation_ids: new ort.Tensor("int64", ids, [rows.length, tail]),
      continuation_mask: new ort.Tensor("int64", mask, [rows.length, tail]),
      owner: new ort.Tensor("int64", BigInt64Array.from(rows, (r) => BigInt(r.context)), [rows.length]),
      targets: new ort.Tensor("int64", targets, [rows.length, tail + 1]),
    };
    const result = await this.#session.run(feeds);
    const logprobs = result.logprobs.data as Float32Array;
    const greedy = result.greedy.data as Uint8Array;
    return rows.map((row, r) => {
      let logprob = 0;
      let isGreedy = true;
      for (let j = 0; j < row.continuation.length; j++) {
        logprob += logprobs[r * (tail + 1) + j];
        if (!greedy[r * (tail + 1) + j]) isGreedy = false;
      }
      return { logprob, isGreedy };
    });
  }

  /** Frees the session. */
  async release(): Promise<void> {
    await this.#session.release();
  }
}
