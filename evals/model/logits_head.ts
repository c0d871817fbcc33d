/**
 * How scores are read from logits without moving them: a small graph, written by the engine and
 * run on the model's device, that takes the logits where the model left them and returns, for
 * each chosen position, the log-softmax of one target token and the argmax. Scoring a
 * continuation or choosing a greedy token then copies a few bytes per position to the host
 * instead of a vocabulary-wide row (0.5 MB for a 128K vocabulary).
 *
 * Log-softmax runs in float32 over the full vocabulary (a float16 model's logits are widened
 * first). The argmax takes two TopK passes with k = 1, each of which takes the first of equal values
 * as torch.argmax does: the largest of each block of {@linkcode ARGMAX_BLOCK} logits, then the
 * largest block. One pass over a whole 128K row ran 0.85 ms on an H100 (ONNX Runtime's CUDA
 * ArgMax, a cuDNN reduction, 3.3 ms): most of a 4K decode step's 3.5. A row whose length is not a
 * multiple of the block is padded with copies of its last logit, which can tie the real one only
 * after it, so the first maximum is still a real token.
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";
import { encodeModel, type GraphSpec } from "./ort/onnx_proto.ts";
import type { Session } from "./ort/session.ts";
import { type Location, Tensor } from "./ort/tensor.ts";

/** One position to read: its index in the logits' flattened `rows × len` axes, and a token. */
export interface Pick {
  /** `row * len + position`. */
  index: number;
  /** Token whose log-probability is wanted (any valid id when only the argmax matters). */
  target: number;
}

/** What a head returns for each pick, in order. */
export interface Picked {
  /** log_softmax(logits)[target]. */
  logprobs: Float32Array;
  /** Index of the largest logit. */
  argmax: number[];
}

/** The graph of a head for logits of `type` over `vocab` tokens. */
export function headGraph(type: "float32" | "float16", vocab: number): GraphSpec {
  const widened = type === "float16" ? "picked_f32" : "picked";
  const blocks = Math.ceil(vocab / ARGMAX_BLOCK);
  const pad = blocks * ARGMAX_BLOCK - vocab;
  const padded = pad > 0 ? "padded" : widened;
  return {
    name: "kvbench_logits_head",
    inputs: [
      { name: "logits", type, shape: ["rows", "len", vocab] },
      { name: "index", type: "int64", shape: ["picks"] },
      { name: "target", type: "int64", shape: ["picks"] },
    ],
    outputs: [
      { name: "logprob", type: "float32", shape: ["picks", 1] },
      { name: "argmax", type: "int64", shape: ["picks", 1] },
    ],
    initializers: [
      { name: "last_axis", dims: [1], values: [1] },
      { name: "one", dims: [1], values: [1] },
      { name: "pads", dims: [4], values: [0, 0, 0, pad] },
      { name: "block_shape", dims: [3], values: [0, blocks, ARGMAX_BLOCK] },
      { name: "blocks_shape", dims: [2], values: [0, blocks] },
      { name: "block_size", dims: [], values: [ARGMAX_BLOCK] },
    ],
    nodes: [
      { op: "Flatten", inputs: ["logits"], outputs: ["flat"], attributes: { axis: 2 } },
      { op: "Gather", inputs: ["flat", "index"], outputs: ["picked"], attributes: { axis: 0 } },
      ...(type === "float16"
        ? [{ op: "Cast", inputs: ["picked"], outputs: [widened], attributes: { to: 1 } }]
        : []),
      { op: "LogSoftmax", inputs: [widened], outputs: ["logsoftmax"], attributes: { axis: 1 } },
      { op: "Unsqueeze", inputs: ["target", "last_axis"], outputs: ["target_column"] },
      {
        op: "GatherElements",
        inputs: ["logsoftmax", "target_column"],
        outputs: ["logprob"],
        attributes: { axis: 1 },
      },
      ...(pad > 0
        ? [{ op: "Pad", inputs: [widened, "pads"], outputs: [padded], attributes: { mode: "edge" } }]
        : []),
      { op: "Reshape", inputs: [padded, "block_shape"], outputs: ["blocked"] },
      {
        op: "TopK",
        inputs: ["blocked", "one"],
        outputs: ["block_max3", "block_argmax3"],
        attributes: { axis: 2 },
      },
      { op: "Reshape", inputs: ["block_max3", "blocks_shape"], outputs: ["block_max"] },
      { op: "Reshape", inputs: ["block_argmax3", "blocks_shape"], outputs: ["block_argmax"] },
      { op: "TopK", inputs: ["block_max", "one"], outputs: ["max", "best_block"], attributes: { axis: 1 } },
      {
        op: "GatherElements",
        inputs: ["block_argmax", "best_block"],
        outputs: ["within"],
        attributes: { axis: 1 },
      },
      { op: "Mul", inputs: ["best_block", "block_size"], outputs: ["block_start"] },
      { op: "Add", inputs: ["block_start", "within"], outputs: ["argmax"] },
    ],
  };
}

/** Logits per block of the argmax's first pass (see the module's notes). */
export const ARGMAX_BLOCK = 256;

/** A logits head opened on one device for one logits type and vocabulary. */
export class LogitsHead {
  readonly #session: Session;
  readonly #vocab: number;

  private constructor(session: Session, vocab: number) {
    this.#session = session;
    this.#vocab = vocab;
  }

  /** Opens the head with `open` (the model's session factory, so it lands on the model's device). */
  static open(
    open: (model: Uint8Array<ArrayBuffer>) => Session,
    type: "float32" | "float16",
    vocab: number,
  ): LogitsHead {
    return new LogitsHead(open(encodeModel(headGraph(type, vocab))), vocab);
  }

  /** Where the head computes. */
  get location(): Location {
    return this.#session.location;
  }

  /** Reads `picks` from `logits` (`rows × len × vocab`, on the head's device or the host). */
  async read(logits: Tensor, picks: readonly Pick[]): Promise<Picked> {
    if (picks.length === 0) return { logprobs: new Float32Array(0), argmax: [] };
    const positions = logits.dims[0] * logits.dims[1];
    for (const p of picks) {
      if (!Number.isInteger(p.index) || p.index < 0 || p.index >= positions) {
        throw new RangeError(`Cannot pick position ${p.index} of logits with ${positions} positions`);
      }
      if (!Number.isInteger(p.target) || p.target < 0 || p.target >= this.#vocab) {
        throw new UserError(
          `Cannot score token ${p.target} as the model's vocabulary has ${this.#vocab} entries: ` +
            "use a tokenizer that matches the model",
        );
      }
    }
    const index = Tensor.fromHost("int64", BigInt64Array.from(picks, (p) => BigInt(p.index)), [picks.length]);
    const target = Tensor.fromHost("int64", BigInt64Array.from(picks, (p) => BigInt(p.target)), [
      picks.length,
    ]);
    try {
      const out = await this.#session.run(
        new Map([["logits", logits], ["index", index], ["target", target]]),
        [{ name: "logprob", where: "host" }, { name: "argmax", where: "host" }],
      );
      const logprob = out.get("logprob")!;
      const argmax = out.get("argmax")!;
      const result = {
        logprobs: new Float32Array(logprob.hostBytes().buffer),
        argmax: Array.from(new BigInt64Array(argmax.hostBytes().buffer), Number),
      };
      logprob.dispose();
      argmax.dispose();
      return result;
    } finally {
      index.dispose();
      target.dispose();
    }
  }

  /** Frees the head's session. */
  release(): void {
    this.#session.release();
  }
}
