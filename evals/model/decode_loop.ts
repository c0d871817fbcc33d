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
 * `prefill_loop.onnx` (`export_decode_loop.py --prefill`) does the same for a prompt: its chunks
 * go through the decoder inside one `Loop`, and only the last position's logits and the final
 * state come back.
 *
 * @module
 */

import * as ort from "onnxruntime-node";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { StateMismatchError, UserError } from "../errors.ts";
import { createSession, type Device, nativeFloat16, type OnnxModel, toFloat32 } from "./onnx_model.ts";
import { StepLogits, Stream } from "./stream.ts";

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
   * Opens `model.dir/decode_loop.onnx` on the model's device (the loop is fed that model's streams).
   *
   * @throws {UserError} when the file is missing (with the command that writes it), the provider
   *   cannot start, or the graph is not a decode loop.
   */
  static async load(model: OnnxModel): Promise<DecodeLoop> {
    const session = await openBeside(model, {
      what: "decode loop",
      file: "decode_loop.onnx",
      flag: "",
      inputs: ["input_ids", "attention_mask", "max_new_tokens"],
      outputs: ["tokens"],
    });
    return new DecodeLoop(model.dir, model.device, session);
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

/** A model's chunked prefill loop (`prefill_loop.onnx`): a prompt in, the last logits and state out. */
export class PrefillLoop {
  /** The decoder the loop wraps (its state layout and vocabulary). */
  readonly model: OnnxModel;
  #session: ort.InferenceSession;

  private constructor(model: OnnxModel, session: ort.InferenceSession) {
    this.model = model;
    this.#session = session;
  }

  /**
   * Opens `model.dir/prefill_loop.onnx` on the model's device.
   *
   * @throws {UserError} when the file is missing (with the command that writes it), the provider
   *   cannot start, or the graph is not a prefill loop of this model.
   */
  static async load(model: OnnxModel): Promise<PrefillLoop> {
    const session = await openBeside(model, {
      what: "prefill loop",
      file: "prefill_loop.onnx",
      flag: " --prefill",
      inputs: ["input_ids", "attention_mask", "chunk", ...model.states.map((s) => s.input)],
      outputs: ["logits"],
    });
    return new PrefillLoop(model, session);
  }

  /**
   * Feeds `rows` (one prompt per row) to a fresh stream, `chunk` tokens per loop iteration, and
   * returns the logits after each row's last token (read them with `last(row)`) and the stream
   * after the prompts. Rows are left-padded to a multiple of `chunk`.
   *
   * @throws {RangeError} when `stream` already holds tokens, has another row count, or a row is empty.
   */
  async prefill(
    stream: Stream,
    rows: readonly (readonly number[])[],
    chunk: number,
  ): Promise<{ logits: StepLogits; stream: Stream }> {
    if (stream.pastLen !== 0) {
      throw new RangeError("Cannot run the prefill loop on a stream that holds tokens");
    }
    if (rows.length !== stream.rows) {
      throw new RangeError(`Cannot prefill ${stream.rows} rows with ${rows.length} prompts`);
    }
    if (rows.some((r) => r.length === 0)) throw new RangeError("Cannot prefill an empty prompt");
    if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`Cannot prefill in chunks of ${chunk}`);
    const lengths = rows.map((r) => r.length);
    const width = Math.ceil(Math.max(...lengths) / chunk) * chunk;
    const ids = new BigInt64Array(rows.length * width);
    const mask = new Uint8Array(rows.length * width);
    const offsets = lengths.map((n) => width - n);
    rows.forEach((row, r) => {
      row.forEach((token, j) => {
        ids[r * width + offsets[r] + j] = BigInt(token);
        mask[r * width + offsets[r] + j] = 1;
      });
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", ids, [rows.length, width]),
      attention_mask: new ort.Tensor("int64", BigInt64Array.from(mask, (m) => BigInt(m)), [
        rows.length,
        width,
      ]),
      chunk: new ort.Tensor("int64", BigInt64Array.of(BigInt(chunk)), []),
    };
    for (const spec of this.model.states) feeds[spec.input] = nativeFloat16(stream.states.get(spec.input)!);
    const result = await this.#session.run(feeds);
    const states = new Map<string, ort.Tensor>();
    for (const spec of this.model.states) states.set(spec.input, result[spec.output]);
    const logits = new StepLogits(
      toFloat32(result.logits),
      this.model.vocabSize,
      1,
      offsets,
      lengths,
      width - 1,
    );
    return { logits, stream: Stream.resume(this.model, width, mask, lengths, states) };
  }

  /** Frees the session. */
  async release(): Promise<void> {
    await this.#session.release();
  }
}

/** Which graph written beside a model to open, and what it must take and return. */
export interface BesideGraph {
  /** What the graph is, for messages ("decode loop"). */
  what: string;
  /** Its file name in the model directory. */
  file: string;
  /** The `export_decode_loop.py` flag that writes it (with its leading space; "" for the default). */
  flag: string;
  /** Inputs it must have. */
  inputs: readonly string[];
  /** Outputs it must have. */
  outputs: readonly string[];
}

/**
 * Opens a graph `scripts/export_decode_loop.py` wrote beside `model` (a loop or the score graph)
 * on the model's device, checking its interface.
 *
 * @throws {UserError} when the file is missing or lacks an input or output, each with the command
 *   that writes it, or when the provider cannot start.
 */
export async function openBeside(model: OnnxModel, graph: BesideGraph): Promise<ort.InferenceSession> {
  const path = join(model.dir, graph.file);
  const rewrite = `\`python3 scripts/export_decode_loop.py --model ${model.dir}${graph.flag}\``;
  if (!existsSync(path)) {
    throw new UserError(
      `Cannot load the ${graph.what} of ${model.dir} as ${path} does not exist: write it with ${rewrite}`,
    );
  }
  const session = await createSession(path, model.device, 0);
  const inputs = graph.inputs.filter((name) => !session.inputNames.includes(name));
  const outputs = graph.outputs.filter((name) => !session.outputNames.includes(name));
  if (inputs.length > 0 || outputs.length > 0) {
    await session.release();
    throw new UserError(
      `Cannot use ${path} as the ${graph.what} of ${model.dir} as it lacks ${
        inputs.length > 0 ? `inputs ${inputs.join(", ")}` : `outputs ${outputs.join(", ")}`
      }: write it again with ${rewrite}`,
    );
  }
  return session;
}
