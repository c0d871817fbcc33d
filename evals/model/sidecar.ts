/**
 * The `kvbench.json` sidecar's schema: each field kvbench reads, checked for its type so that a
 * wrong one is one line naming the file, the field, what it holds and what it should, rather
 * than a crash in DuckDB or a value silently ignored. Fields kvbench does not read pass through.
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";

/** The `kvbench.json` sidecar: what the graph alone doesn't say. */
export interface Sidecar {
  /** Sidecar format version. */
  format?: number;
  /** Model family (`llama`, `transmla`, `xecomla`, `zebra`, `dma`, …). */
  family?: string;
  /** Display name in the report. */
  name?: string;
  /** Name of the model this one was converted or distilled from (the report's compression baseline). */
  teacher?: string;
  /** Element type of the weights and states. */
  dtype?: string;
  /** Longest sequence the model was built for. */
  max_length?: number;
  /**
   * How the graph was made: `traced` from PyTorch (the default), `fused` or `static` (a fused graph with
   * a cache written in place; scripts/families/fused.py).
   */
  graph?: string;
  /**
   * A static export's scoring graph, a file beside model.onnx: the dynamic fused form of the same
   * weights, through which continuations are scored (evals/model/score_graph.ts).
   */
  score_graph?: string;
  /** Prompts are padded to a multiple of this many tokens (see `OnnxModel.keyLengthMultiple`). */
  key_length_multiple?: number;
  /** Sequence axis per state input, for states whose dims don't tell (`null`: fixed). */
  state_seq_axis?: Record<string, number | null>;
  /** Per-layer layout, as the export script describes it. */
  layers?: unknown[];
  /** The analytic cache size the export promises. */
  cache?: {
    bytes_per_token?: number;
    fixed_state_bytes?: number;
    bytes_per_token_formula?: string;
    /** What one device holds per token when the cache is sharded (TPLA: latent / g + the RoPE key). */
    per_device_bytes_per_token?: number;
  };
}

/** Longest max_length accepted: beyond it a value is a placeholder (tokenizers write 1e30), not a length. */
const MAX_LENGTH_LIMIT = 10_000_000;

type Check = (value: unknown) => boolean;

const isString: Check = (v) => typeof v === "string" && v.trim() !== "";
const isInteger = (min: number, max = Number.MAX_SAFE_INTEGER): Check => (v) =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
const isNumber: Check = (v) => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Each field: its check and what it should be, as the message says it. */
const FIELDS: Record<string, [Check, string]> = {
  format: [isInteger(1), "a positive integer, e.g. 1"],
  family: [isString, 'a non-empty string, e.g. "llama"'],
  name: [isString, 'a non-empty string, e.g. "my-llama"'],
  teacher: [isString, 'the name of another model, e.g. "mqar-llama"'],
  dtype: [isString, 'a string, e.g. "float16"'],
  max_length: [isInteger(1, MAX_LENGTH_LIMIT - 1), "a positive integer number of tokens, e.g. 2048"],
  layers: [Array.isArray, "an array (one entry per layer)"],
  graph: [isString, 'a string, e.g. "fused"'],
  score_graph: [
    (v) => typeof v === "string" && /^[^/\\]+\.onnx$/.test(v),
    'a file name beside model.onnx, e.g. "score.onnx"',
  ],
  key_length_multiple: [isInteger(1, 1024), "a positive integer number of tokens, e.g. 4"],
  cache: [isObject, 'an object, e.g. {"bytes_per_token": 512}'],
  state_seq_axis: [isObject, 'an object of state input → axis, e.g. {"past_key_values.0.key": 2}'],
};

const CACHE_FIELDS: Record<string, [Check, string]> = {
  bytes_per_token: [isNumber, "a number of bytes ≥ 0"],
  fixed_state_bytes: [isNumber, "a number of bytes ≥ 0"],
  bytes_per_token_formula: [(v) => typeof v === "string", "a string"],
  fixed_state_bytes_formula: [(v) => typeof v === "string", "a string"],
  per_device_bytes_per_token: [isNumber, "a number of bytes ≥ 0"],
  per_device_formula: [(v) => typeof v === "string", "a string"],
};

/** How a found value reads in a message: JSON (cut short) and its kind. */
function found(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  const shown = json.length > 40 ? `${json.slice(0, 37)}…` : json;
  const kind = value === null
    ? "null"
    : Array.isArray(value)
    ? "an array"
    : isObject(value)
    ? "an object"
    : `a ${typeof value}`;
  return `${shown} (${kind})`;
}

function wrong(path: string, field: string, value: unknown, expected: string): UserError {
  return new UserError(
    `Cannot use ${path} as its "${field}" is ${found(value)} where kvbench expects ${expected}: ` +
      `fix the field or remove it`,
  );
}

/**
 * Checks the parsed contents of the sidecar at `path` (for messages).
 *
 * @throws {UserError} naming the file, the field, what it holds and what it should.
 */
export function validateSidecar(raw: unknown, path: string): Sidecar {
  if (!isObject(raw)) {
    throw new UserError(
      `Cannot use ${path} as it holds ${found(raw)} where kvbench expects a JSON object ` +
        `such as {"family": "llama", "name": "my-llama"}: fix or remove the file`,
    );
  }
  for (const [field, [check, expected]] of Object.entries(FIELDS)) {
    if (field in raw && !check(raw[field])) throw wrong(path, field, raw[field], expected);
  }
  for (const [field, [check, expected]] of Object.entries(CACHE_FIELDS)) {
    const cache = raw.cache as Record<string, unknown> | undefined;
    if (cache && field in cache && !check(cache[field])) {
      throw wrong(path, `cache.${field}`, cache[field], expected);
    }
  }
  for (const [state, axis] of Object.entries((raw.state_seq_axis ?? {}) as Record<string, unknown>)) {
    if (axis !== null && !isInteger(1)(axis)) {
      throw wrong(
        path,
        `state_seq_axis.${state}`,
        axis,
        "an axis index ≥ 1 (0 is the batch), or null for a fixed state",
      );
    }
  }
  return raw as Sidecar;
}
