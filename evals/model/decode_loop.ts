/**
 * Greedy decoding inside one onnxruntime call: `decode_loop.onnx` (written beside a model by
 * `scripts/export_decode_loop.py`) wraps the decoder in an ONNX `Loop`, so the state stays inside
 * onnxruntime (on the GPU with the CUDA provider) between tokens instead of coming back to host
 * memory after every token.
 *
 * The loop graph takes one token per row (`input_ids` `[B, 1]`, `attention_mask` `[B, past + 1]`,
 * `position_ids` `[B, 1]` when the decoder has them), the decoder's `past*` states and
 * `max_new_tokens` (int64 scalar), and returns `tokens` `[max_new_tokens, B]`: `tokens[0]` is the
 * argmax after the fed token, `tokens[i]` the argmax after feeding `tokens[i - 1]`.
 *
 * @module
 */

import * as ort from "onnxruntime-node";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { StateMismatchError, UserError } from "../errors.ts";
import { createSession, type Device, nativeFloat16 } from "./onnx_model.ts";
import type { Stream } from "./stream.ts";

/** Options for {@linkcode DecodeLoop.load}. */
export interface DecodeLoopOptions {
  /** Execution provider. @default {"cpu"} */
  device?: Device;
}

/** The loop graph's inputs that are not decoder states. */
const LOOP_INPUTS = ["input_ids", "attention_mask", "position_ids", "max_new_tokens"];

/** A model's greedy decode loop (`decode_loop.onnx`), run from a {@linkcode Stream}'s state. */
export class DecodeLoop {
  /** The model directory. */
  readonly dir: string;
  /** The device the session runs on. */
  readonly device: Device;
  /** State inputs of the loop graph (the decoder's `past*` names), in graph order. */
  readonly stateInputs: readonly string[];
  /** Whether the loop graph takes `position_ids`. */
  readonly hasPositionIds: boolean;
  #session: ort.InferenceSession;

  private constructor(dir: string, device: Device, session: ort.InferenceSession) {
    this.dir = dir;
    this.device = device;
    this.#session = session;
    this.stateInputs = session.inputNames.filter((n) => !LOOP_INPUTS.includes(n));
    this.hasPositionIds = session.inputNames.includes("position_ids");
  }

  /**
   * Opens `dir/decode_loop.onnx` with the execution-provider settings of `OnnxModel.load`.
   *
   * @throws {UserError} when the file is missing (with the command that writes it), the provider
   *   cannot start, or the graph is not a decode loop.
   */
  static async load(dir: string, options: DecodeLoopOptions = {}): Promise<DecodeLoop> {
    const device = options.device ?? "cpu";
    const path = join(dir, "decode_loop.onnx");
    if (!existsSync(path)) {
      throw new UserError(
        `Cannot load the decode loop of ${dir} as ${path} does not exist: write it with ` +
          `\`python3 scripts/export_decode_loop.py --model ${dir}\``,
      );
    }
    const session = await createSession(path, device, 0);
    for (const name of ["input_ids", "attention_mask", "max_new_tokens"]) {
      if (!session.inputNames.includes(name)) {
        await session.release();
        throw new UserError(
          `Cannot use ${path} as a decode loop as it has no "${name}" input: write it again with ` +
            `\`python3 scripts/export_decode_loop.py --model ${dir}\``,
        );
      }
    }
    if (!session.outputNames.includes("tokens")) {
      await session.release();
      throw new UserError(
        `Cannot use ${path} as a decode loop as it has no "tokens" output: write it again with ` +
          `\`python3 scripts/export_decode_loop.py --model ${dir}\``,
      );
    }
    return new DecodeLoop(dir, device, session);
  }

  /**
   * Feeds `first[r]` to row `r` of `stream` and decodes `steps` tokens greedily in one call.
   * Returns per row the `steps` generated tokens: the first is the argmax after `first[r]`, each
   * next one the argmax after feeding the previous (what a step-by-step greedy loop produces).
   * `stream` must come from the same model's decoder (its states keyed by `past*` input name)
   * and is not changed.
   *
   * @throws {RangeError} when `first` has not one token per row or `steps` is not a positive integer.
   * @throws {StateMismatchError} when the stream lacks one of the loop's state inputs.
   */
  async generate(stream: Stream, first: readonly number[], steps: number): Promise<number[][]> {
    const rows = stream.rows;
    if (first.length !== rows) {
      throw new RangeError(`Cannot start a decode loop of ${rows} rows with ${first.length} first tokens`);
    }
    if (!Number.isInteger(steps) || steps < 1) {
      throw new RangeError(`Cannot decode ${steps} steps: expected a positive integer`);
    }
    const past = stream.pastLen;
    const total = past + 1;
    const mask = new BigInt64Array(rows * total);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < past; j++) mask[r * total + j] = BigInt(stream.mask[r * past + j]);
      mask[r * total + past] = 1n;
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(first, (t) => BigInt(t)), [rows, 1]),
      attention_mask: new ort.Tensor("int64", mask, [rows, total]),
      max_new_tokens: new ort.Tensor("int64", BigInt64Array.of(BigInt(steps)), []),
    };
    if (this.hasPositionIds) {
      feeds.position_ids = new ort.Tensor(
        "int64",
        BigInt64Array.from(stream.realCounts, (n) => BigInt(n)),
        [rows, 1],
      );
    }
    const missing = this.stateInputs.filter((name) => !stream.states.has(name));
    if (missing.length > 0) {
      throw new StateMismatchError(
        `Cannot run the decode loop of ${this.dir} as the stream lacks state inputs ${missing.join(", ")}: ` +
          `start the stream from the same model's decoder`,
      );
    }
    for (const name of this.stateInputs) feeds[name] = nativeFloat16(stream.states.get(name)!);
    const result = await this.#session.run(feeds, ["tokens"]);
    const tokens = result.tokens.data as BigInt64Array;
    const out: number[][] = Array.from({ length: rows }, () => []);
    for (let i = 0; i < steps; i++) {
      for (let r = 0; r < rows; r++) out[r].push(Number(tokens[i * rows + r]));
    }
    return out;
  }

  /** Frees the session. */
  async release(): Promise<void> {
    await this.#session.release();
  }
}
