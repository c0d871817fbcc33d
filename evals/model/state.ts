/**
 * Discovery of a model's recurrent state from its ONNX graph metadata.
 *
 * Every graph input other than the token inputs is state. A `past*` input pairs with the
 * output whose name swaps the `past_key_values` / `past` prefix for `present`, which covers the
 * optimum / transformers.js names (`past_key_values.{i}.key` ↔ `present.{i}.key`) and the
 * Mamba ones (`past_conv.{i}` ↔ `present_conv.{i}`, `past_ssm.{i}` ↔ `present_ssm.{i}`).
 * A state with a symbolic axis besides the batch axis grows with the sequence; one whose other
 * axes are all numbers has a fixed size (SSM and conv states).
 *
 * @module
 */

import { StateMismatchError } from "../../core/errors.ts";

/** Element types a state tensor may have. */
export type StateDType = "float32" | "float16";

/** The part of onnxruntime's tensor metadata that state discovery reads. */
export interface TensorMeta {
  /** Input or output name in the graph. */
  name: string;
  /** Element type as onnxruntime names it (`float32`, `int64`, …). */
  type: string;
  /** Dimensions: a number when static, a string when symbolic. */
  shape: ReadonlyArray<number | string>;
}

/** One state tensor of the model: where it is fed, where it comes back, how it grows. */
export interface StateSpec {
  /** Graph input that takes the state (`past_key_values.0.key`). */
  input: string;
  /** Graph output that returns the updated state (`present.0.key`). */
  output: string;
  /** `growing` when the tensor has a sequence axis, `fixed` when its size never changes. */
  kind: "growing" | "fixed";
  /** Element type of the tensor. */
  dtype: StateDType;
  /** Shape as the graph declares it (symbolic names kept). */
  shape: ReadonlyArray<number | string>;
  /** Index of the sequence axis for a growing state, `null` for a fixed one. */
  seqAxis: number | null;
}

/**
 * Names of the non-state inputs a causal LM graph may take. `num_logits_to_keep` (an int64
 * scalar, as transformers.js feeds it) asks for the last k positions' logits only; 0 means all.
 * `use_cache_branch` (a bool of shape [1]) selects the with-past branch of optimum's merged decoders.
 * A static cache's graph takes `seqlens_k`, `total_sequence_length` and `logits_index` instead of
 * the mask, positions and keep (see `OnnxModel.staticCache`).
 */
export const TOKEN_INPUTS = [
  "input_ids",
  "attention_mask",
  "position_ids",
  "num_logits_to_keep",
  "use_cache_branch",
  "seqlens_k",
  "total_sequence_length",
  "logits_index",
] as const;

/** Maps a `past*` input name to the `present*` output name that returns it. */
export function presentNameFor(pastName: string): string {
  if (pastName.startsWith("past_key_values")) {
    return "present" + pastName.slice("past_key_values".length);
  }
  return "present" + pastName.slice("past".length);
}

/** Optional hints from the model's sidecar for states whose names or dims don't tell. */
export interface StateHints {
  /** Sequence axis per state input name; `null` forces a state to be fixed-size. */
  seqAxis?: Record<string, number | null>;
}

/**
 * Finds the model's state tensors from the graph's inputs and outputs.
 *
 * @throws {StateMismatchError} when an input is neither a token input nor a pairable state,
 *   when a state has no matching output, or when a state's element type is unsupported.
 */
export function discoverStates(
  inputs: readonly TensorMeta[],
  outputs: readonly TensorMeta[],
  hints: StateHints = {},
): StateSpec[] {
  const outputsByName = new Map(outputs.map((o) => [o.name, o]));
  const specs: StateSpec[] = [];
  const stateInputs = inputs.filter((i) => !(TOKEN_INPUTS as readonly string[]).includes(i.name));
  for (const input of stateInputs) {
    if (!input.name.startsWith("past")) {
      throw new StateMismatchError(
        `Cannot use the model as input "${input.name}" is not a token input or a past* state: ` +
          `kvbench feeds ${TOKEN_INPUTS.join(", ")} and past*/present* state pairs`,
      );
    }
    const outputName = presentNameFor(input.name);
    const output = outputsByName.get(outputName);
    if (!output) {
      throw new StateMismatchError(
        `Cannot pair state input "${input.name}" as the graph has no output "${outputName}": ` +
          `export every past* input with its present* output (${stateInputs.length} state inputs found)`,
      );
    }
    if (input.type !== "float32" && input.type !== "float16") {
      throw new StateMismatchError(
        `Cannot feed state "${input.name}" of type ${input.type}: states must be float32 or float16`,
      );
    }
    const hinted = hints.seqAxis?.[input.name];
    let seqAxis: number | null;
    if (hinted !== undefined) {
      seqAxis = hinted;
    } else {
      const symbolic = input.shape
        .map((d, axis) => ({ d, axis }))
        .filter(({ d, axis }) => axis > 0 && typeof d === "string");
      if (symbolic.length > 1) {
        throw new StateMismatchError(
          `Cannot tell the sequence axis of state "${input.name}" with shape ` +
            `[${input.shape.join(", ")}]: name it in kvbench.json "state_seq_axis"`,
        );
      }
      seqAxis = symbolic.length === 1 ? symbolic[0].axis : null;
    }
    specs.push({
      input: input.name,
      output: outputName,
      kind: seqAxis === null ? "fixed" : "growing",
      dtype: input.type,
      shape: [...input.shape],
      seqAxis,
    });
  }
  return specs;
}

/**
 * The concrete shape of a state for `batch` rows holding `length` tokens: the batch axis and
 * the sequence axis are filled in, every other symbolic axis is an error.
 */
export function concreteShape(spec: StateSpec, batch: number, length: number): number[] {
  return spec.shape.map((d, axis) => {
    if (axis === 0) return batch;
    if (axis === spec.seqAxis) return length;
    if (typeof d === "number") return d;
    throw new StateMismatchError(
      `Cannot build state "${spec.input}" as its axis ${axis} ("${d}") has no size: ` +
        `give the axis a static size in the export`,
    );
  });
}

/**
 * Bytes one row's states take, from their declared shapes: growing states per token, fixed states
 * per sequence (what `Stream.measureCache` measures on real tensors).
 *
 * @throws {StateMismatchError} when a state has a symbolic axis besides the batch and sequence axes.
 */
export function stateBytes(states: readonly StateSpec[]): { bytesPerToken: number; fixedBytes: number } {
  let bytesPerToken = 0;
  let fixedBytes = 0;
  for (const spec of states) {
    const bytes = concreteShape(spec, 1, 1).reduce((a, b) => a * b, 1) * (spec.dtype === "float16" ? 2 : 4);
    if (spec.kind === "growing") bytesPerToken += bytes;
    else fixedBytes += bytes;
  }
  return { bytesPerToken, fixedBytes };
}
