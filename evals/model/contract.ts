/**
 * The contract a graph must meet to be run as a causal LM, checked on its declared inputs and
 * outputs: `input_ids` and `attention_mask` inputs (or a static cache's `seqlens_k`,
 * `total_sequence_length` and `logits_index`), a float `logits` output with a static
 * vocabulary axis, and states that pair up. One place for these checks and their messages, used
 * by `OnnxModel.load` (on the session) and by the checks before any work (on the file).
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";
import { discoverStates, type StateHints, type StateSpec, type TensorMeta } from "./state.ts";

/** What a graph that meets the contract declares. */
export interface CheckedGraph {
  /** Size of the logits' last axis. */
  vocabSize: number;
  /** Element type of the logits. */
  logitsType: "float32" | "float16";
  /** The state tensors found. */
  states: StateSpec[];
}

/**
 * Checks `inputs` and `outputs` of the graph at `path` against the contract.
 *
 * @throws {UserError} naming what is missing or wrong and how to export it.
 */
export function checkGraphContract(
  path: string,
  inputs: readonly TensorMeta[],
  outputs: readonly TensorMeta[],
  hints: StateHints = {},
): CheckedGraph {
  // A static cache's graph (seqlens_k) takes each row's length in place of a mask.
  const staticCache = inputs.some((i) => i.name === "seqlens_k");
  const required = staticCache
    ? ["input_ids", "total_sequence_length", "logits_index"]
    : ["input_ids", "attention_mask"];
  for (const name of required) {
    if (!inputs.some((i) => i.name === name)) {
      throw new UserError(
        `Cannot use ${path} as it has no "${name}" input (inputs: ` +
          `${inputs.map((i) => i.name).join(", ")}): export a causal LM with ${required.join(", ")}`,
      );
    }
  }
  const logits = outputs.find((o) => o.name === "logits");
  if (!logits) {
    throw new UserError(
      `Cannot use ${path} as it has no "logits" output (outputs: ` +
        `${outputs.slice(0, 6).map((o) => o.name).join(", ")}…): export the LM head's output as "logits"`,
    );
  }
  const states = discoverStates(inputs, outputs, hints);
  const vocab = logits.shape.at(-1);
  if (typeof vocab !== "number") {
    throw new UserError(
      `Cannot use ${path} as the vocabulary axis of "logits" is symbolic ("${vocab}"): ` +
        `export logits with a static last axis`,
    );
  }
  if (logits.type !== "float32" && logits.type !== "float16") {
    throw new UserError(
      `Cannot use ${path} as its "logits" are ${logits.type}: export float32 or float16 logits`,
    );
  }
  return { vocabSize: vocab, logitsType: logits.type, states };
}
