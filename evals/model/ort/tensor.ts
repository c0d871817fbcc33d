/**
 * Tensors held by ONNX Runtime (`OrtValue`s) in host or device memory, with the few operations
 * the harness needs on them without a graph: wrap host data, read it back, gather rows.
 *
 * @module
 */

import { check, ort, outPointer, pointerIn } from "./api.ts";
import { copyToHost } from "./cuda_runtime.ts";

/** Element types the engine creates or reads. */
export type ElementType = "float32" | "float16" | "int64" | "int32" | "bool" | "uint8" | "int8" | "double";

/** Where a tensor's data lives. */
export type Location = "cpu" | "cuda";

/** ONNX's element type codes (`ONNXTensorElementDataType`). */
export const ELEMENT_CODES: Record<ElementType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  double: 11,
};

/** The element type named by an ONNX code, or `onnx:<code>` for one the engine does not handle. */
export function elementName(code: number): string {
  const found = Object.entries(ELEMENT_CODES).find(([, c]) => c === code);
  return found ? found[0] : `onnx:${code}`;
}

/** Bytes per element. */
export const ELEMENT_BYTES: Record<ElementType, number> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  double: 8,
};

// A tensor dropped without dispose() still gives its OrtValue back when it is collected.
const finalizer = new FinalizationRegistry<bigint>((handle) => {
  ort().api.ReleaseValue.call(Deno.UnsafePointer.create(handle));
});

// Memory a tensor owns beside its OrtValue (see Tensor.owning), given back the same way. A failure
// there has no caller to reach (an error thrown from a finalizer would end the process).
const memoryFinalizer = new FinalizationRegistry<() => void>((free) => {
  try {
    free();
  } catch {
    // The memory stays taken; nothing else is affected.
  }
});

let cpuInfo: Deno.PointerValue = null;

/** ONNX Runtime's description of plain host memory, made once per process. */
export function cpuMemoryInfo(): Deno.PointerValue {
  if (cpuInfo === null) {
    const out = outPointer();
    // OrtDeviceAllocator, OrtMemTypeDefault
    check("CreateCpuMemoryInfo", ort().api.CreateCpuMemoryInfo.call(0, 0, out));
    cpuInfo = pointerIn(out);
  }
  return cpuInfo;
}

/** A tensor owned by ONNX Runtime; free it with {@linkcode Tensor.dispose} once it is no longer fed. */
export class Tensor {
  /** Element type. */
  readonly type: ElementType;
  /** Dimensions. */
  readonly dims: readonly number[];
  /** Where the data lives. */
  readonly location: Location;
  #handle: Deno.PointerValue;
  // Host data a tensor was made from: ONNX Runtime reads it in place, so it must outlive the value.
  #keep: ArrayBufferView | null;
  // Gives back memory the tensor owns outside ONNX Runtime (Tensor.owning).
  #free: (() => void) | null = null;

  private constructor(
    handle: Deno.PointerValue,
    type: ElementType,
    dims: readonly number[],
    location: Location,
    keep: ArrayBufferView | null,
  ) {
    this.#handle = handle;
    this.type = type;
    this.dims = dims;
    this.location = location;
    this.#keep = keep;
    finalizer.register(this, Deno.UnsafePointer.value(handle) as bigint, this);
  }

  /** A tensor over host data, without copying it: `data` must not change while the tensor is used. */
  static fromHost(type: ElementType, data: ArrayBufferView, dims: readonly number[]): Tensor {
    const elements = dims.reduce((a, b) => a * b, 1);
    if (data.byteLength !== elements * ELEMENT_BYTES[type]) {
      throw new RangeError(
        `Cannot make a ${type} tensor of shape [${dims.join(", ")}] from ${data.byteLength} bytes`,
      );
    }
    // A zero-element tensor still needs a non-null data pointer.
    const backing = data.byteLength > 0 ? data : new Uint8Array(8);
    const shape = BigInt64Array.from(dims, (d) => BigInt(d));
    const out = outPointer();
    check(
      "CreateTensorWithDataAsOrtValue",
      ort().api.CreateTensorWithDataAsOrtValue.call(
        cpuMemoryInfo(),
        Deno.UnsafePointer.of(backing as Uint8Array<ArrayBuffer>),
        BigInt(data.byteLength),
        shape,
        BigInt(dims.length),
        ELEMENT_CODES[type],
        out,
      ),
    );
    return new Tensor(pointerIn(out), type, [...dims], "cpu", backing);
  }

  /**
   * A tensor over memory that something else owns (`info` says where): it must not outlive that
   * memory. Disposing of it leaves the memory alone.
   */
  static over(
    info: Deno.PointerValue,
    data: Deno.PointerValue,
    type: ElementType,
    dims: readonly number[],
    location: Location,
  ): Tensor {
    const bytes = dims.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[type];
    const shape = BigInt64Array.from(dims, (d) => BigInt(d));
    const out = outPointer();
    check(
      "CreateTensorWithDataAsOrtValue",
      ort().api.CreateTensorWithDataAsOrtValue.call(
        info,
        data,
        BigInt(bytes),
        shape,
        BigInt(dims.length),
        ELEMENT_CODES[type],
        out,
      ),
    );
    return new Tensor(pointerIn(out), type, [...dims], location, null);
  }

  /**
   * A tensor over memory it owns from now on: `free` gives the memory back when the tensor is
   * disposed of (or collected).
   */
  static owning(
    info: Deno.PointerValue,
    data: Deno.PointerValue,
    type: ElementType,
    dims: readonly number[],
    location: Location,
    free: () => void,
  ): Tensor {
    let tensor: Tensor;
    try {
      tensor = Tensor.over(info, data, type, dims, location);
    } catch (error) {
      free();
      throw error;
    }
    tensor.#free = free;
    memoryFinalizer.register(tensor, free, tensor);
    return tensor;
  }

  /** Takes ownership of an `OrtValue` ONNX Runtime returned, reading its type and shape. */
  static adopt(handle: Deno.PointerValue, location: Location): Tensor {
    const { api } = ort();
    const out = outPointer();
    check("GetTensorTypeAndShape", api.GetTensorTypeAndShape.call(handle, out));
    const info = pointerIn(out);
    try {
      const code = new Int32Array(1);
      check("GetTensorElementType", api.GetTensorElementType.call(info, code));
      const count = new BigUint64Array(1);
      check("GetDimensionsCount", api.GetDimensionsCount.call(info, count));
      const dims = new BigInt64Array(Number(count[0]));
      check("GetDimensions", api.GetDimensions.call(info, dims, count[0]));
      const type = elementName(code[0]);
      if (!(type in ELEMENT_CODES)) {
        api.ReleaseValue.call(handle);
        throw new TypeError(`Cannot read a tensor of ONNX element type ${code[0]}`);
      }
      return new Tensor(handle, type as ElementType, Array.from(dims, Number), location, null);
    } finally {
      api.ReleaseTensorTypeAndShapeInfo.call(info);
    }
  }

  /** The `OrtValue*` to pass to the C API. */
  get handle(): Deno.PointerValue {
    if (this.#handle === null) throw new RangeError("Cannot use a tensor after dispose()");
    return this.#handle;
  }

  /** Number of elements. */
  get size(): number {
    return this.dims.reduce((a, b) => a * b, 1);
  }

  /** Bytes of data. */
  get byteLength(): number {
    return this.size * ELEMENT_BYTES[this.type];
  }

  /** Address of the first element (in device memory for a device tensor). */
  dataPointer(): Deno.PointerValue {
    const out = outPointer();
    check("GetTensorMutableData", ort().api.GetTensorMutableData.call(this.handle, out));
    return pointerIn(out);
  }

  /** A host copy of the tensor's bytes (through the CUDA runtime for a device tensor). */
  hostBytes(): Uint8Array<ArrayBuffer> {
    if (this.byteLength === 0) return new Uint8Array(0);
    if (this.location === "cuda") return copyToHost(this.dataPointer(), this.byteLength);
    const view = Deno.UnsafePointerView.getArrayBuffer(this.dataPointer()!, this.byteLength);
    return new Uint8Array(view.slice(0));
  }

  /** Whether the tensor still holds its `OrtValue`. */
  get disposed(): boolean {
    return this.#handle === null;
  }

  /** Releases the `OrtValue` (and the device memory it owns). Safe to call twice. */
  dispose(): void {
    if (this.#handle === null) return;
    finalizer.unregister(this);
    ort().api.ReleaseValue.call(this.#handle);
    this.#handle = null;
    this.#keep = null;
    if (this.#free !== null) {
      memoryFinalizer.unregister(this);
      this.#free();
      this.#free = null;
    }
  }
}

/**
 * Decodes a float32 or float16 tensor into float32 values on the host.
 *
 * @throws {TypeError} for other element types.
 */
export function readFloat32(tensor: Tensor): Float32Array {
  const bytes = tensor.hostBytes();
  if (tensor.type === "float32") return new Float32Array(bytes.buffer);
  if (tensor.type === "float16") return Float32Array.from(new Float16Array(bytes.buffer));
  throw new TypeError(`Cannot read ${tensor.type} values as float32: expected float32 or float16`);
}
