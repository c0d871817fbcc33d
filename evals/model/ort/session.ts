/**
 * One ONNX Runtime session opened through the C API: its inputs and outputs as the graph declares
 * them, and a run through IoBinding in which every output is left where the caller asks (host or
 * device memory), so state that is fed back never crosses PCIe.
 *
 * @module
 */

import process from "node:process";
import { UserError } from "../../../core/errors.ts";
import { check, cString, ort, outPointer, pointerIn } from "./api.ts";
import {
  allocateOnDevice,
  copyOnDevice,
  copyToDevice,
  freeOnDevice,
  maxPitch,
  zeroOnDevice,
} from "./cuda_runtime.ts";
import { type Block, BlockPool } from "./device_blocks.ts";
import { type BlockCopy, copyOnHost, planRowCopies } from "./row_copies.ts";
import {
  cpuMemoryInfo,
  ELEMENT_BYTES,
  elementName,
  type ElementType,
  type Location,
  Tensor,
} from "./tensor.ts";

/** Bytes between tensors that share a block: cudaMalloc's alignment, which kernels may assume. */
const BLOCK_ALIGNMENT = 256;

/** A tensor's first byte as a number, for the copies of `row_copies.ts`. */
function addressOf(tensor: Tensor): bigint {
  return BigInt(Deno.UnsafePointer.value(tensor.dataPointer()));
}

/**
 * Device memory the engine frees and keeps for its next allocations (see `device_blocks.ts`), as
 * `KVBENCH_IDLE_DEVICE_MIB` says (0: every free goes to `cudaFree`, which waits for the device). The
 * default, 2048, holds a scoring batch's buffers several times over: on an H200 it scored the mix
 * 1.10–1.28× faster than 0, and parity and the CUDA graph checks pass with it (docs/BENCHMARKS.md).
 * Given back when ONNX Runtime shrinks its arena, when a run fails (it may have run out of memory)
 * and when the session is released.
 */
function idleDeviceBytes(): number {
  const mib = Number(process.env.KVBENCH_IDLE_DEVICE_MIB ?? 2048);
  if (!(Number.isFinite(mib) && mib >= 0)) {
    throw new UserError(
      `KVBENCH_IDLE_DEVICE_MIB must be a number of MiB, 0 or more (got "${process.env.KVBENCH_IDLE_DEVICE_MIB}")`,
    );
  }
  return mib * 2 ** 20;
}

/** A graph input or output as the session declares it. */
export interface ValueMeta {
  /** Name in the graph. */
  name: string;
  /** Element type (`float32`, `int64`, …), or `non-tensor` for sequences and maps. */
  type: string;
  /** Dimensions: a number when static, the symbolic name (or `?`) when not. */
  shape: (number | string)[];
}

/** How to open a session. */
export interface SessionOptions {
  /** Execution provider. */
  device: Location;
  /** GPU index for `cuda`. @default {0} */
  deviceId?: number;
  /** CPU threads for one operator; 0 lets ONNX Runtime choose. @default {0} */
  intraOpThreads?: number;
  /** Let CUDA round float32 matrix products to TF32. @default {false} */
  tf32?: boolean;
  /** Most bytes ONNX Runtime's CUDA arena may take (0: no limit). @default {0} */
  gpuMemLimit?: number;
  /** Write ONNX Runtime's per-node profile with this file prefix when the session is released. */
  profilePrefix?: string;
  /**
   * Let runs that name a graph (see {@linkcode RunSettings.graph}) be captured as CUDA graphs and
   * replayed; ignored on CPU. ONNX Runtime refuses it for a graph with nodes off the GPU that need
   * copies. @default {false}
   */
  cudaGraphs?: boolean;
  /**
   * Weights the session takes from these tensors instead of from the graph's own data, by
   * initializer name (ONNX Runtime's `AddInitializer`): where a tensor lives where ONNX Runtime
   * places that weight, the session reads it in place, so sessions handed the same tensors hold one
   * copy. The tensors must outlive the session.
   */
  initializers?: ReadonlyMap<string, Tensor>;
}

/** How to run once. */
export interface RunSettings {
  /** Give the arena's unused memory back after the run (not once a CUDA graph was captured). */
  shrinkArena?: boolean;
  /** Run on a worker thread, so the event loop stays live. */
  onWorker?: boolean;
  /**
   * With {@linkcode SessionOptions.cudaGraphs}: the CUDA graph this run is (a positive id). Its
   * first run captures it (ONNX Runtime runs the step three times then: the work must be
   * idempotent), later runs replay it without reading the feeds: every input and output must be
   * at the addresses, and of the shapes, of that first run, with new values written in place.
   */
  graph?: number;
}

/** Where to leave one output of a run. */
export interface OutputRequest {
  /** Output name. */
  name: string;
  /** `host` copies it to host memory; `device` leaves it where the provider computed it. */
  where: "host" | "device";
  /**
   * Write the output into this tensor (of the output's shape) instead of a new one: a cache buffer
   * fed as an input too is updated in place. Not in the returned map.
   */
  into?: Tensor;
}

const ORT_ENABLE_ALL = 99;
const ORT_LOGGING_LEVEL_ERROR = 3;
const ORT_LOGGING_LEVEL_FATAL = 4;

let env: Deno.PointerValue = null;

function ortEnv(): Deno.PointerValue {
  if (env === null) {
    const out = outPointer();
    check("CreateEnv", ort().api.CreateEnv.call(ORT_LOGGING_LEVEL_ERROR, cString("kvbench"), out));
    env = pointerIn(out);
  }
  return env;
}

/** An open ONNX Runtime session. */
export class Session {
  /** The graph's inputs. */
  readonly inputs: readonly ValueMeta[];
  /** The graph's outputs. */
  readonly outputs: readonly ValueMeta[];
  /** Where the provider computes: outputs asked `device` live here. */
  readonly location: Location;
  /** GPU index for `cuda`. */
  readonly deviceId: number;
  #handle: Deno.PointerValue;
  #deviceInfo: Deno.PointerValue;
  readonly #names = new Map<string, Uint8Array<ArrayBuffer>>();
  readonly #runOptions = new Map<string, Deno.PointerValue>();
  readonly #captured = new Set<number>();
  readonly #blocks: BlockPool | null = null;
  /** Whether runs may be captured as CUDA graphs (see {@linkcode SessionOptions.cudaGraphs}). */
  readonly cudaGraphs: boolean;

  private constructor(handle: Deno.PointerValue, location: Location, deviceId: number, cudaGraphs: boolean) {
    this.#handle = handle;
    this.location = location;
    this.deviceId = deviceId;
    this.cudaGraphs = cudaGraphs;
    this.inputs = describe(handle, "Input");
    this.outputs = describe(handle, "Output");
    if (location === "cuda") {
      this.#deviceInfo = cudaMemoryInfo(deviceId);
      this.#blocks = new BlockPool(
        (bytes) => allocateOnDevice(deviceId, bytes),
        freeOnDevice,
        idleDeviceBytes(),
      );
    } else {
      this.#deviceInfo = cpuMemoryInfo();
    }
  }

  /**
   * Opens an ONNX model: the file at `source`, or the serialized model `source` holds.
   *
   * @throws {OrtError} when ONNX Runtime rejects the model or the provider cannot start.
   */
  static open(source: string | Uint8Array<ArrayBuffer>, options: SessionOptions): Session {
    const { api } = ort();
    // The environment comes first: the CUDA provider's options log through its logger.
    const environment = ortEnv();
    const out = outPointer();
    check("CreateSessionOptions", api.CreateSessionOptions.call(out));
    const opts = pointerIn(out);
    try {
      check(
        "SetSessionGraphOptimizationLevel",
        api.SetSessionGraphOptimizationLevel.call(opts, ORT_ENABLE_ALL),
      );
      check("SetSessionLogSeverityLevel", api.SetSessionLogSeverityLevel.call(opts, ORT_LOGGING_LEVEL_ERROR));
      check("SetIntraOpNumThreads", api.SetIntraOpNumThreads.call(opts, options.intraOpThreads ?? 0));
      if (options.profilePrefix) {
        check("EnableProfiling", api.EnableProfiling.call(opts, cString(options.profilePrefix)));
      }
      // ONNX Runtime plans a run's memory anew for each new set of input shapes and replays the plan
      // when they repeat; scoring's shapes rarely repeat. Off, for comparisons on a GPU (#12: a fresh
      // process's first pass of the scoring mix ran at 0.75× its later ones).
      if (process.env.KVBENCH_ORT_MEM_PATTERN === "0") {
        check("DisableMemPattern", api.DisableMemPattern.call(opts));
      }
      for (const [name, tensor] of options.initializers ?? []) {
        check("AddInitializer", api.AddInitializer.call(opts, cString(name), tensor.handle));
      }
      if (options.device === "cuda") appendCuda(opts, options);
      const session = outPointer();
      if (typeof source === "string") {
        check("CreateSession", api.CreateSession.call(environment, cString(source), opts, session));
      } else {
        check(
          "CreateSessionFromArray",
          api.CreateSessionFromArray.call(environment, source, BigInt(source.byteLength), opts, session),
        );
      }
      return new Session(
        pointerIn(session),
        options.device,
        options.deviceId ?? 0,
        options.device === "cuda" && (options.cudaGraphs ?? false),
      );
    } finally {
      api.ReleaseSessionOptions.call(opts);
    }
  }

  /** Names of the graph's inputs. */
  get inputNames(): string[] {
    return this.inputs.map((i) => i.name);
  }

  /**
   * Runs the graph on `feeds` (host or device tensors, by input name) and returns the requested
   * outputs, each where its request says. The caller owns the returned tensors. With
   * `shrinkArena`, ONNX Runtime gives the device arena's unused memory back after the run (so a
   * memory reading after it shows what is held, not what was ever taken). With `onWorker` the run
   * goes to a worker thread, so the event loop (Ctrl-C among it) stays live during a long run;
   * without, it runs on the calling thread, which saves the hop (0.4–0.6 ms of a 7 ms decode step
   * on an H100). `graph` names a CUDA graph to capture or replay (see {@linkcode RunSettings}).
   */
  async run(
    feeds: ReadonlyMap<string, Tensor>,
    requests: readonly OutputRequest[],
    { shrinkArena = false, onWorker = false, graph }: RunSettings = {},
  ): Promise<Map<string, Tensor>> {
    const { api } = ort();
    if (graph !== undefined && !(Number.isInteger(graph) && graph > 0)) {
      throw new RangeError(`Cannot run as CUDA graph ${graph}: graph ids are positive integers`);
    }
    const graphId = this.cudaGraphs ? (graph ?? -1) : -1;
    // A captured graph writes its intermediates where they were at capture, in the arena.
    const shrink = shrinkArena && this.#captured.size === 0;
    if (shrinkArena) this.#blocks?.drain();
    const key = `${shrink}:${graphId}`;
    // Made once per session and kind of run: a decode step runs hundreds of times a second.
    let runOptions = this.#runOptions.get(key);
    if (runOptions === undefined) {
      runOptions = this.#makeRunOptions(shrink, graphId);
      this.#runOptions.set(key, runOptions);
    }
    const out = outPointer();
    check("CreateIoBinding", api.CreateIoBinding.call(this.#live(), out));
    const binding = pointerIn(out);
    try {
      for (const [name, tensor] of feeds) {
        check("BindInput", api.BindInput.call(binding, this.#name(name), tensor.handle));
      }
      for (const r of requests) {
        if (r.into) {
          check("BindOutput", api.BindOutput.call(binding, this.#name(r.name), r.into.handle));
          continue;
        }
        const info = r.where === "host" ? cpuMemoryInfo() : this.#deviceInfo;
        check("BindOutputToDevice", api.BindOutputToDevice.call(binding, this.#name(r.name), info));
      }
      check(
        "RunWithBinding",
        onWorker
          ? await api.RunWithBindingOnWorker.call(this.#live(), runOptions, binding)
          : api.RunWithBinding.call(this.#live(), runOptions, binding),
      );
      if (graphId > 0) this.#captured.add(graphId);
      const values = outPointer();
      const count = new BigUint64Array(1);
      const allocator = defaultAllocator();
      check("GetBoundOutputValues", api.GetBoundOutputValues.call(binding, allocator, values, count));
      const array = pointerIn(values);
      const view = new Deno.UnsafePointerView(array!);
      const result = new Map<string, Tensor>();
      requests.forEach((r, i) => {
        const location = r.where === "host" ? "cpu" : this.location;
        const value = Tensor.adopt(view.getPointer(i * 8), location);
        // Another handle on the caller's tensor: released, the tensor stays.
        if (r.into) value.dispose();
        else result.set(r.name, value);
      });
      check("AllocatorFree", api.AllocatorFree.call(allocator, array));
      return result;
    } catch (error) {
      this.#blocks?.drain();
      throw error;
    } finally {
      api.ReleaseIoBinding.call(binding);
    }
  }

  #makeRunOptions(shrinkArena: boolean, graphId: number): Deno.PointerValue {
    const { api } = ort();
    const out = outPointer();
    check("CreateRunOptions", api.CreateRunOptions.call(out));
    const options = pointerIn(out);
    // A kernel's failure comes back as the run's status (and becomes one error line); ONNX
    // Runtime's own log line of it would only repeat it on stderr.
    check(
      "RunOptionsSetRunLogSeverityLevel",
      api.RunOptionsSetRunLogSeverityLevel.call(options, ORT_LOGGING_LEVEL_FATAL),
    );
    if (shrinkArena) {
      const arena = this.location === "cuda" ? `gpu:${this.deviceId}` : "cpu:0";
      check(
        "AddRunConfigEntry",
        api.AddRunConfigEntry.call(options, cString("memory.enable_memory_arena_shrinkage"), cString(arena)),
      );
    }
    // Unset, a graph-enabled session would capture every run as graph 0.
    if (this.cudaGraphs) {
      check(
        "AddRunConfigEntry",
        api.AddRunConfigEntry.call(options, cString("gpu_graph_id"), cString(String(graphId))),
      );
    }
    return options;
  }

  /**
   * For each of `tensors`, a tensor made of the given rows (axis 0) of it, in the same memory; a row
   * may repeat. The results of one shape share a block (see {@linkcode Session.emptyMany}); rows
   * that follow each other in both source and result move as one block, and tensors laid out at a
   * constant stride (a cache's buffers) move together (`row_copies.ts`), all between one pair of
   * synchronisations on the device.
   */
  gatherRows(tensors: readonly Tensor[], indices: readonly number[]): Tensor[] {
    // Each result lives where its source does: a fresh stream's states are host tensors (of no
    // rows' worth of slots, or a fixed state's zeros) until its first step.
    const gathered: Tensor[] = new Array(tensors.length);
    try {
      for (const where of new Set(tensors.map((t) => t.location))) {
        const members = tensors.flatMap((t, i) => (t.location === where ? [i] : []));
        const results = this.#allocate(
          members.map((i) => ({
            type: tensors[i].type,
            dims: [indices.length, ...tensors[i].dims.slice(1)],
          })),
          false,
          where,
        );
        members.forEach((i, k) => (gathered[i] = results[k]));
        const sources = members.map((i) => ({
          address: addressOf(tensors[i]),
          rowBytes: tensors[i].dims[0] > 0 ? tensors[i].byteLength / tensors[i].dims[0] : 0,
          rows: tensors[i].dims[0],
        }));
        this.#run(planRowCopies(sources, results.map(addressOf), indices, this.#maxPitch(where)), where);
      }
    } catch (error) {
      for (const t of gathered) t?.dispose();
      throw error;
    }
    return gathered;
  }

  /**
   * A tensor of `dims` where the provider computes (host memory on CPU), contents undefined. On
   * the device it is the engine's own memory, not the arena's (a CUDA graph captured earlier
   * writes its intermediates into arena blocks that are free between runs), reused once freed.
   */
  empty(type: ElementType, dims: readonly number[]): Tensor {
    return this.emptyMany([{ type, dims }])[0];
  }

  /**
   * Tensors of the given types and dimensions (see {@linkcode Session.empty}), those of one shape in
   * one block at a constant stride, in order: their rows can be copied together. A block goes back
   * when the last of its tensors is disposed of.
   */
  emptyMany(specs: readonly { type: ElementType; dims: readonly number[] }[]): Tensor[] {
    return this.#allocate(specs, false, this.location);
  }

  #allocate(
    specs: readonly { type: ElementType; dims: readonly number[] }[],
    zeroed: boolean,
    where: Location,
  ): Tensor[] {
    const shapes = new Map<string, number[]>();
    specs.forEach((spec, i) => {
      const key = `${spec.type}:${spec.dims.join(",")}`;
      shapes.set(key, [...(shapes.get(key) ?? []), i]);
    });
    const tensors: Tensor[] = new Array(specs.length);
    try {
      for (const members of shapes.values()) {
        const { type, dims } = specs[members[0]];
        const bytes = dims.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[type];
        const stride = Math.ceil(bytes / BLOCK_ALIGNMENT) * BLOCK_ALIGNMENT;
        if (where === "cpu") {
          const memory = new Uint8Array(stride * members.length);
          for (const [k, m] of members.entries()) {
            tensors[m] = Tensor.fromHost(type, memory.subarray(k * stride, k * stride + bytes), dims);
          }
          continue;
        }
        const block = this.#blocks!.take(stride * members.length);
        if (zeroed) zeroOnDevice(this.deviceId, block.ptr, stride * members.length);
        // The block goes back when every member has been freed, those never made included.
        let live = members.length;
        const free = () => {
          if (--live === 0) this.#giveBack(block);
        };
        for (const [k, m] of members.entries()) {
          try {
            const at = Deno.UnsafePointer.offset(block.ptr!, k * stride);
            tensors[m] = Tensor.owning(this.#deviceInfo, at, type, dims, this.location, free);
          } catch (error) {
            // Tensor.owning freed its own member; the ones after it will never exist.
            for (let rest = k + 1; rest < members.length; rest++) free();
            throw error;
          }
        }
      }
    } catch (error) {
      for (const t of tensors) t?.dispose();
      throw error;
    }
    return tensors;
  }

  // A tensor freed after the session was released gives its memory back to the device directly.
  #giveBack(block: Block): void {
    if (this.#handle === null) freeOnDevice(block.ptr);
    else this.#blocks!.give(block);
  }

  /** A zeroed tensor of `dims` where the provider computes (see {@linkcode Session.empty}). */
  zeros(type: ElementType, dims: readonly number[]): Tensor {
    return this.zerosMany([{ type, dims }])[0];
  }

  /** Zeroed tensors (see {@linkcode Session.emptyMany}). */
  zerosMany(specs: readonly { type: ElementType; dims: readonly number[] }[]): Tensor[] {
    // Host memory comes zeroed; on the device one memset covers each block.
    return this.#allocate(specs, true, this.location);
  }

  /** Runs copies between addresses in `where`'s memory (by default where the provider computes). */
  #run(copies: readonly BlockCopy[], where: Location = this.location): void {
    if (copies.length === 0) return;
    if (where === "cpu") copyOnHost(copies);
    else copyOnDevice(this.deviceId, copies);
  }

  // Host memory has no pitch limit of its own; a copy's pitch is at most a tensor's size.
  #maxPitch(where: Location): number {
    return where === "cpu" ? Number.MAX_SAFE_INTEGER : maxPitch(this.deviceId);
  }

  /** Writes host `data` (exactly the tensor's bytes) into `tensor`, wherever it lives. */
  write(tensor: Tensor, data: ArrayBufferView): void {
    if (data.byteLength !== tensor.byteLength) {
      throw new RangeError(`Cannot write ${data.byteLength} bytes into a ${tensor.byteLength}-byte tensor`);
    }
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (tensor.location === "cpu") {
      if (bytes.byteLength > 0) {
        new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(tensor.dataPointer()!, bytes.byteLength)).set(
          bytes,
        );
      }
    } else {
      copyToDevice(tensor.dataPointer(), bytes);
    }
  }

  /** Copies `src`'s bytes into `dst` (the same size), on their device. */
  copy(dst: Tensor, src: Tensor): void {
    if (dst.byteLength !== src.byteLength) {
      throw new RangeError(`Cannot copy a ${src.byteLength}-byte tensor into a ${dst.byteLength}-byte one`);
    }
    if (src.location === "cpu") this.write(dst, src.hostBytes());
    else {
      const width = src.byteLength;
      this.#run([{
        dst: addressOf(dst),
        src: addressOf(src),
        width,
        height: 1,
        dstPitch: width,
        srcPitch: width,
      }]);
    }
  }

  /**
   * A tensor of `dims` over `base`'s memory from `byteOffset` on, without copying: it must not
   * outlive `base`, and writes through it land in `base`.
   */
  view(base: Tensor, byteOffset: number, dims: readonly number[]): Tensor {
    const bytes = dims.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[base.type];
    if (byteOffset < 0 || byteOffset + bytes > base.byteLength) {
      throw new RangeError(`Cannot view ${bytes} bytes at ${byteOffset} of a ${base.byteLength}-byte tensor`);
    }
    const info = base.location === "cpu" ? cpuMemoryInfo() : this.#deviceInfo;
    return Tensor.over(
      info,
      Deno.UnsafePointer.offset(base.dataPointer()!, byteOffset),
      base.type,
      dims,
      base.location,
    );
  }

  /**
   * For each of `tensors`, a zeroed one whose axis `axis` is `size` long (at least its length now),
   * holding the old contents at the start of that axis.
   */
  widen(tensors: readonly Tensor[], axis: number, size: number): Tensor[] {
    if (tensors.some((t) => size < t.dims[axis])) {
      throw new RangeError(`Cannot widen axis ${axis} to ${size}: it is longer`);
    }
    const wider = this.zerosMany(
      tensors.map((t) => ({ type: t.type, dims: t.dims.map((d, i) => (i === axis ? size : d)) })),
    );
    // Each tensor's outer rows, one block each, a longer pitch apart in the result.
    const copies = tensors.flatMap((tensor, i) => {
      if (tensor.byteLength === 0) return [];
      const outer = Math.max(tensor.dims.slice(0, axis).reduce((a, b) => a * b, 1), 1);
      const width = tensor.byteLength / outer;
      const dstPitch = wider[i].byteLength / outer;
      return [{
        dst: addressOf(wider[i]),
        src: addressOf(tensor),
        width,
        height: outer,
        dstPitch,
        srcPitch: width,
      }];
    });
    try {
      this.#run(copies);
    } catch (error) {
      for (const t of wider) t.dispose();
      throw error;
    }
    return wider;
  }

  /** Writes the profile (when profiling was asked for) and frees the session. */
  release(): void {
    if (this.#handle === null) return;
    const { api } = ort();
    for (const options of this.#runOptions.values()) api.ReleaseRunOptions.call(options);
    this.#runOptions.clear();
    this.#blocks?.drain();
    api.ReleaseSession.call(this.#handle);
    this.#handle = null;
  }

  // C strings of the graph's names, made once: a decode step binds some 70 of them.
  #name(name: string): Uint8Array<ArrayBuffer> {
    let text = this.#names.get(name);
    if (text === undefined) {
      text = cString(name);
      this.#names.set(name, text);
    }
    return text;
  }

  #live(): Deno.PointerValue {
    if (this.#handle === null) throw new RangeError("Cannot run a released session");
    return this.#handle;
  }
}

let allocator: Deno.PointerValue = null;

function defaultAllocator(): Deno.PointerValue {
  if (allocator === null) {
    const out = outPointer();
    check("GetAllocatorWithDefaultOptions", ort().api.GetAllocatorWithDefaultOptions.call(out));
    allocator = pointerIn(out);
  }
  return allocator;
}

/**
 * GroupQueryAttention prefers cuDNN's flash attention for prompts where cuDNN offers it, and cuDNN
 * builds a plan for every new key length: every chunk of a prefill. Measured on an H100 (1B GQA,
 * static cache): prefill 17K / 33K / 41K tok/s at 4K / 16K / 32K with it, 54K / 78K / 63K with the
 * flash kernel it falls back to, decode unchanged. ONNX Runtime reads this when a session is made;
 * a value the user set is kept.
 */
const CUDNN_FLASH = "ORT_ENABLE_CUDNN_FLASH_ATTENTION";

function appendCuda(opts: Deno.PointerValue, options: SessionOptions): void {
  const { api } = ort();
  if (Deno.env.get(CUDNN_FLASH) === undefined) Deno.env.set(CUDNN_FLASH, "0");
  const settings: Record<string, string> = {
    device_id: String(options.deviceId ?? 0),
    // The arena grows in powers of two (ONNX Runtime's default): with kSameAsRequested every step's
    // one-token-longer state needed fresh device memory (measured on an H100: decode 1.5× slower and
    // the arena at 64 GB for a 1 GB state). Bench shrinks it after each row to read that row's peak.
    use_tf32: options.tf32 ? "1" : "0",
    ...(options.cudaGraphs ? { enable_cuda_graph: "1" } : {}),
    ...(options.gpuMemLimit ? { gpu_mem_limit: String(options.gpuMemLimit) } : {}),
  };
  const out = outPointer();
  check("CreateCUDAProviderOptions", api.CreateCUDAProviderOptions.call(out));
  const cuda = pointerIn(out);
  try {
    const keys = Object.keys(settings).map(cString);
    const values = Object.values(settings).map(cString);
    const pointers = (strings: Uint8Array<ArrayBuffer>[]) =>
      BigUint64Array.from(strings, (s) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s))));
    check(
      "UpdateCUDAProviderOptions",
      api.UpdateCUDAProviderOptions.call(cuda, pointers(keys), pointers(values), BigInt(keys.length)),
    );
    check(
      "SessionOptionsAppendExecutionProvider_CUDA_V2",
      api.SessionOptionsAppendExecutionProvider_CUDA_V2.call(opts, cuda),
    );
  } finally {
    api.ReleaseCUDAProviderOptions.call(cuda);
  }
}

function describe(session: Deno.PointerValue, kind: "Input" | "Output"): ValueMeta[] {
  const { api } = ort();
  const count = new BigUint64Array(1);
  check(`Session${kind}Count`, api[`SessionGet${kind}Count`].call(session, count));
  const metas: ValueMeta[] = [];
  for (let i = 0n; i < count[0]; i++) {
    const name = outPointer();
    check(`SessionGet${kind}Name`, api[`SessionGet${kind}Name`].call(session, i, defaultAllocator(), name));
    const text = Deno.UnsafePointerView.getCString(pointerIn(name)!);
    check("AllocatorFree", api.AllocatorFree.call(defaultAllocator(), pointerIn(name)));
    const typeOut = outPointer();
    check(`SessionGet${kind}TypeInfo`, api[`SessionGet${kind}TypeInfo`].call(session, i, typeOut));
    const typeInfo = pointerIn(typeOut);
    try {
      metas.push({ name: text, ...tensorType(typeInfo) });
    } finally {
      api.ReleaseTypeInfo.call(typeInfo);
    }
  }
  return metas;
}

function tensorType(typeInfo: Deno.PointerValue): { type: string; shape: (number | string)[] } {
  const { api } = ort();
  const onnxType = new Int32Array(1);
  check("GetOnnxTypeFromTypeInfo", api.GetOnnxTypeFromTypeInfo.call(typeInfo, onnxType));
  if (onnxType[0] !== 1) return { type: "non-tensor", shape: [] }; // ONNX_TYPE_TENSOR
  // Owned by the type info: not released here.
  const out = outPointer();
  check("CastTypeInfoToTensorInfo", api.CastTypeInfoToTensorInfo.call(typeInfo, out));
  const info = pointerIn(out);
  const code = new Int32Array(1);
  check("GetTensorElementType", api.GetTensorElementType.call(info, code));
  const rank = new BigUint64Array(1);
  check("GetDimensionsCount", api.GetDimensionsCount.call(info, rank));
  const n = Number(rank[0]);
  const dims = new BigInt64Array(n);
  check("GetDimensions", api.GetDimensions.call(info, dims, rank[0]));
  const symbols = new BigUint64Array(Math.max(n, 1));
  check("GetSymbolicDimensions", api.GetSymbolicDimensions.call(info, symbols, rank[0]));
  const shape = Array.from({ length: n }, (_, d) => {
    if (dims[d] >= 0n) return Number(dims[d]);
    const symbol = symbols[d] === 0n
      ? ""
      : Deno.UnsafePointerView.getCString(Deno.UnsafePointer.create(symbols[d])!);
    return symbol || "?";
  });
  return { type: elementName(code[0]), shape };
}

const cudaInfos = new Map<number, Deno.PointerValue>();

/** ONNX Runtime's description of GPU `deviceId`'s memory, made once per process and device. */
function cudaMemoryInfo(deviceId: number): Deno.PointerValue {
  let info = cudaInfos.get(deviceId);
  if (info === undefined) {
    const out = outPointer();
    // OrtDeviceAllocator, OrtMemTypeDefault
    check("CreateMemoryInfo", ort().api.CreateMemoryInfo.call(cString("Cuda"), 0, deviceId, 0, out));
    info = pointerIn(out);
    cudaInfos.set(deviceId, info);
  }
  return info;
}

/**
 * A tensor holding a copy of `data` where `location` computes, in memory of its own (not a
 * session's): weights handed to sessions ({@linkcode SessionOptions.initializers}).
 */
export function placedTensor(
  location: Location,
  deviceId: number,
  type: ElementType,
  dims: readonly number[],
  data: Uint8Array<ArrayBuffer>,
): Tensor {
  if (location === "cpu") return Tensor.fromHost(type, data, dims);
  const ptr = allocateOnDevice(deviceId, Math.max(data.byteLength, 1));
  const tensor = Tensor.owning(cudaMemoryInfo(deviceId), ptr, type, dims, location, () => freeOnDevice(ptr));
  if (data.byteLength > 0) copyToDevice(ptr, data);
  return tensor;
}
