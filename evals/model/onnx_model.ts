/**
 * How a model is run: one onnxruntime session, fed token ids, a mask, positions and the state
 * tensors found in its graph. Nothing here knows about model families.
 *
 * @module
 */

import * as ort from "onnxruntime-node";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import process from "node:process";
import { StateMismatchError, UserError } from "../errors.ts";
import { bindingDir, missingProviderLibraries, startTf32 } from "./providers.ts";
import { discoverStates, type StateHints, type StateSpec, type TensorMeta } from "./state.ts";

/** Where the model runs. */
export type Device = "cpu" | "cuda" | "webgpu";

/**
 * Where a run leaves the state tensors it returns. `cpu` (the default) copies them to ordinary
 * host memory; `cpu-pinned` lets the CUDA provider copy into page-locked memory first (no faster
 * on an H100: the binding still copies each output into a fresh JS buffer);
 * `gpu-buffer` keeps them on the GPU between calls (WebGPU only in onnxruntime-node 1.29), which
 * suits a single stream stepped forward (`deno task bench`) but not row selection.
 */
export type StateLocation = "cpu" | "cpu-pinned" | "gpu-buffer";

/** Which device each non-default state location needs. */
const LOCATION_DEVICE: Record<Exclude<StateLocation, "cpu">, Device> = {
  "cpu-pinned": "cuda",
  "gpu-buffer": "webgpu",
};

/** Options for {@linkcode OnnxModel.load}. */
export interface LoadOptions {
  /** Execution provider. @default {"cpu"} */
  device?: Device;
  /** Hints for states whose layout the graph alone doesn't tell. */
  stateHints?: StateHints;
  /** CPU threads for one operator; 0 lets onnxruntime choose. @default {0} */
  intraOpThreads?: number;
  /** Where returned state tensors live. @default {"cpu"} */
  stateLocation?: StateLocation;
  /**
   * Let the CUDA provider round float32 matrix products to TF32 (one setting per process; see
   * {@linkcode startTf32}). Ignored on other devices. @default {false}
   */
  tf32?: boolean;
}

/** Inputs of one forward call; all arrays are row-major `[rows, len]`. */
export interface Feeds {
  /** Token ids, `rows × len`. */
  inputIds: BigInt64Array;
  /** 1 for real tokens, 0 for padding, over past and current tokens: `rows × (past + len)`. */
  attentionMask: BigInt64Array;
  /** Position of each current token, `rows × len`. */
  positionIds: BigInt64Array;
  /** Number of rows. */
  rows: number;
  /** Tokens per row in this call. */
  len: number;
  /** Tokens per row already in the state. */
  pastLen: number;
  /** State tensors keyed by graph input name. */
  states: Map<string, ort.Tensor>;
  /** Logits wanted for the last this-many positions only (0: all); honoured when the graph can. */
  keep?: number;
  /**
   * Whether to fetch the updated states. `false` asks onnxruntime for the logits alone, so a state
   * that will not be used again never leaves the device (the returned map is empty). @default {true}
   */
  fetchStates?: boolean;
}

/** What one forward call returns. */
export interface Outputs {
  /** Logits as float32, `rows × logitsLen × vocab`. */
  logits: Float32Array;
  /** Positions per row the logits cover: the last `logitsLen` of the call's `len`. */
  logitsLen: number;
  /** Updated state tensors keyed by the graph *input* name they feed next. */
  states: Map<string, ort.Tensor>;
}

const EXECUTION_PROVIDERS: Record<Device, string> = { cpu: "cpu", cuda: "cuda", webgpu: "webgpu" };

/** An ONNX causal LM whose state tensors were discovered from its graph. */
export class OnnxModel {
  /** The model directory. */
  readonly dir: string;
  /** The state tensors, in graph input order. */
  readonly states: readonly StateSpec[];
  /** Whether the graph takes `position_ids`. */
  readonly hasPositionIds: boolean;
  /** Whether the graph can return the last positions' logits only (`num_logits_to_keep`). */
  readonly hasLogitsToKeep: boolean;
  /** Size of the logits' last axis. */
  readonly vocabSize: number;
  /** The device the session runs on. */
  readonly device: Device;
  /** Where returned state tensors live. */
  readonly stateLocation: StateLocation;
  #session: ort.InferenceSession;
  readonly #usesCacheBranch: boolean;

  private constructor(
    dir: string,
    session: ort.InferenceSession,
    states: StateSpec[],
    vocabSize: number,
    device: Device,
    stateLocation: StateLocation,
  ) {
    this.dir = dir;
    this.#session = session;
    this.states = states;
    this.hasPositionIds = session.inputNames.includes("position_ids");
    this.hasLogitsToKeep = session.inputNames.includes("num_logits_to_keep");
    this.#usesCacheBranch = session.inputNames.includes("use_cache_branch");
    this.vocabSize = vocabSize;
    this.device = device;
    this.stateLocation = stateLocation;
  }

  /**
   * Opens `dir/model.onnx` and discovers its inputs, outputs and state tensors.
   *
   * @throws {UserError} when the file is missing or unreadable, lacks `input_ids`,
   *   `attention_mask` or `logits`, or its states don't pair up.
   */
  static async load(dir: string, options: LoadOptions = {}): Promise<OnnxModel> {
    const device = options.device ?? "cpu";
    const stateLocation = options.stateLocation ?? "cpu";
    if (stateLocation !== "cpu" && LOCATION_DEVICE[stateLocation] !== device) {
      throw new UserError(
        `Cannot keep state in ${stateLocation} memory on --device ${device}: ${stateLocation} needs ` +
          `--device ${LOCATION_DEVICE[stateLocation]}, or leave the state location at cpu`,
      );
    }
    if (device === "cuda") {
      try {
        startTf32(options.tf32 ?? false);
      } catch (error) {
        throw new UserError((error as Error).message);
      }
    }
    const path = join(dir, "model.onnx");
    if (!existsSync(path)) {
      throw new UserError(
        `Cannot load model from ${dir} as ${path} does not exist: point --model at a directory ` +
          `holding model.onnx, tokenizer.json and tokenizer_config.json`,
      );
    }
    let session = await createSession(path, device, options.intraOpThreads ?? 0);
    const inputs = tensorMetas(session.inputMetadata);
    const outputs = tensorMetas(session.outputMetadata);
    for (const required of ["input_ids", "attention_mask"]) {
      if (!inputs.some((i) => i.name === required)) {
        throw new UserError(
          `Cannot use ${path} as it has no "${required}" input (inputs: ` +
            `${inputs.map((i) => i.name).join(", ")}): export a causal LM with input_ids and attention_mask`,
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
    const states = discoverStates(inputs, outputs, options.stateHints);
    const vocab = logits.shape.at(-1);
    if (typeof vocab !== "number") {
      throw new UserError(
        `Cannot use ${path} as the vocabulary axis of "logits" is symbolic ("${vocab}"): ` +
          `export logits with a static last axis`,
      );
    }
    if (stateLocation !== "cpu") {
      // Output locations are fixed when a session is created, and only the graph's metadata
      // says which outputs are states: open it again with the states placed and logits on the host.
      const preferred: Record<string, StateLocation> = {};
      for (const o of outputs) preferred[o.name] = "cpu";
      for (const spec of states) preferred[spec.output] = stateLocation;
      await session.release();
      session = await createSession(path, device, options.intraOpThreads ?? 0, preferred);
    }
    return new OnnxModel(dir, session, states, vocab, device, stateLocation);
  }

  /** Runs one forward call. */
  async forward(feeds: Feeds): Promise<Outputs> {
    const inputs: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", feeds.inputIds, [feeds.rows, feeds.len]),
      attention_mask: new ort.Tensor("int64", feeds.attentionMask, [
        feeds.rows,
        feeds.pastLen + feeds.len,
      ]),
    };
    if (this.hasPositionIds) {
      inputs.position_ids = new ort.Tensor("int64", feeds.positionIds, [feeds.rows, feeds.len]);
    }
    if (this.#usesCacheBranch) {
      inputs.use_cache_branch = new ort.Tensor("bool", Uint8Array.of(feeds.pastLen > 0 ? 1 : 0), [1]);
    }
    const keep = this.hasLogitsToKeep ? Math.min(feeds.keep ?? 0, feeds.len) : 0;
    if (this.hasLogitsToKeep) {
      inputs.num_logits_to_keep = new ort.Tensor("int64", BigInt64Array.of(BigInt(keep)), []);
    }
    const missing = this.states.filter((s) => !feeds.states.has(s.input)).map((s) => s.input);
    if (missing.length > 0) {
      throw new StateMismatchError(
        `Cannot run the model as state inputs ${missing.join(", ")} are missing: graph expects ` +
          `${this.states.length} state inputs`,
      );
    }
    for (const spec of this.states) inputs[spec.input] = nativeFloat16(feeds.states.get(spec.input)!);
    const fetchStates = feeds.fetchStates ?? true;
    const result = fetchStates
      ? await this.#session.run(inputs)
      : await this.#session.run(inputs, ["logits"]);
    const states = new Map<string, ort.Tensor>();
    if (fetchStates) { for (const spec of this.states) states.set(spec.input, result[spec.output]); }
    return { logits: toFloat32(result.logits), logitsLen: keep > 0 ? keep : feeds.len, states };
  }

  /** Frees the session. */
  async release(): Promise<void> {
    await this.#session.release();
  }
}

/**
 * Opens an onnxruntime session on `device`, turning a missing provider library, a provider that
 * won't start and a rejected graph into one-line {@linkcode UserError}s.
 */
export async function createSession(
  path: string,
  device: Device,
  intraOpThreads: number,
  preferredOutputLocation?: Record<string, StateLocation>,
): Promise<ort.InferenceSession> {
  const missing = missingProviderLibraries(device);
  if (missing.length > 0) {
    throw new UserError(
      `Cannot use --device ${device} as ${missing.join(" and ")} ${
        missing.length > 1 ? "are" : "is"
      } missing from ` +
        `${bindingDir()}: run \`deno task setup:cuda\` to install the CUDA provider, or use --device cpu`,
    );
  }
  // onnxruntime's per-node profile (JSON, written when the session is released), for finding where
  // a device's time goes: KVBENCH_ORT_PROFILE=DIR names the folder.
  const profileDir = process.env.KVBENCH_ORT_PROFILE;
  try {
    return await ort.InferenceSession.create(path, {
      executionProviders: [EXECUTION_PROVIDERS[device]],
      graphOptimizationLevel: "all",
      intraOpNumThreads: intraOpThreads,
      ...(preferredOutputLocation ? { preferredOutputLocation } : {}),
      ...(profileDir
        ? { enableProfiling: true, profileFilePrefix: join(profileDir, basename(path, ".onnx")) }
        : {}),
    });
  } catch (error) {
    const reason = String((error as Error).message ?? error).split("\n")[0];
    if (device !== "cpu" && /provider|EP|cuda|webgpu|\.so/i.test(reason)) {
      throw new UserError(
        `Cannot start the ${device} execution provider for ${path}: ${reason}. ` +
          (device === "cuda"
            ? "The provider is installed but could not load its CUDA 13 / cuDNN 9 libraries: put them on " +
              "LD_LIBRARY_PATH (e.g. /usr/local/cuda/targets/x86_64-linux/lib), or use --device cpu"
            : "Use --device cpu, or a build of onnxruntime-node with the WebGPU provider"),
      );
    }
    throw new UserError(
      `Cannot load ${path} as onnxruntime rejected it (${reason}): re-export the model or ` +
        `check that its external data files sit beside it`,
    );
  }
}

function tensorMetas(metas: readonly ort.InferenceSession.ValueMetadata[]): TensorMeta[] {
  return metas.map((m) =>
    m.isTensor
      ? { name: m.name, type: m.type, shape: m.shape }
      : { name: m.name, type: "non-tensor", shape: [] }
  );
}

/** Copies a float16 or float32 tensor's data into a Float32Array (float32 data is shared). */
export function toFloat32(tensor: ort.Tensor): Float32Array {
  const data = tensor.data;
  if (data instanceof Float32Array) return data;
  if (tensor.type === "float16") {
    if (data instanceof Float16Array) return Float32Array.from(data);
    const bits = data as Uint16Array;
    return Float32Array.from(new Float16Array(bits.buffer, bits.byteOffset, bits.length));
  }
  throw new TypeError(`Cannot read logits of type ${tensor.type}: expected float32 or float16`);
}

/**
 * Makes a float16 tensor readable by the native binding. Where `Float16Array` exists (Deno),
 * onnxruntime-common stores float16 data as a Float16Array, which onnxruntime-node 1.29's native
 * code does not recognise (it sees 0 bytes); a Uint16Array view of the same bytes is what it reads.
 */
export function nativeFloat16(tensor: ort.Tensor): ort.Tensor {
  // A tensor left on the device is bound by reference; there is no host data to re-view.
  if (tensor.location !== "cpu") return tensor;
  if (tensor.type !== "float16" || tensor.data instanceof Uint16Array) return tensor;
  const data = tensor.data as ArrayBufferView;
  (tensor as unknown as { cpuData: Uint16Array }).cpuData = new Uint16Array(
    data.buffer,
    data.byteOffset,
    data.byteLength / 2,
  );
  return tensor;
}
