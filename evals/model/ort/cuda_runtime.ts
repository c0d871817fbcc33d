/**
 * The CUDA runtime calls the engine makes itself: its own device memory (tensors that outlive a
 * run, kept out of ONNX Runtime's arena, whose free blocks a captured CUDA graph still writes),
 * device-to-device copies (row gathers of a state that stays on the GPU, a cache buffer moved into
 * a longer one), copies to and from the host, zeroing and a device synchronisation. ONNX Runtime's
 * CUDA provider already loads the same `libcudart.so.13`, so this adds no dependency.
 *
 * @module
 */

import type { BlockCopy } from "./row_copies.ts";

const HOST_TO_DEVICE = 1;
const DEVICE_TO_DEVICE = 3;
// Direction taken from the pointers (unified addressing): the caller need not know the GPU index.
const INFERRED = 4;
// cudaDevAttrMaxPitch
const MAX_PITCH_ATTRIBUTE = 11;

let cudart:
  | Deno.DynamicLibrary<{
    cudaMemcpy: { parameters: ["pointer", "pointer", "usize", "i32"]; result: "i32" };
    cudaMemcpy2D: {
      parameters: ["pointer", "usize", "pointer", "usize", "usize", "usize", "i32"];
      result: "i32";
    };
    cudaMemset: { parameters: ["pointer", "i32", "usize"]; result: "i32" };
    cudaDeviceSynchronize: { parameters: []; result: "i32" };
    cudaSetDevice: { parameters: ["i32"]; result: "i32" };
    cudaMalloc: { parameters: ["buffer", "usize"]; result: "i32" };
    cudaFree: { parameters: ["pointer"]; result: "i32" };
    cudaDeviceGetAttribute: { parameters: ["buffer", "i32", "i32"]; result: "i32" };
  }>
  | null = null;

function lib() {
  cudart ??= Deno.dlopen("libcudart.so.13", {
    cudaMemcpy: { parameters: ["pointer", "pointer", "usize", "i32"], result: "i32" },
    cudaMemcpy2D: {
      parameters: ["pointer", "usize", "pointer", "usize", "usize", "usize", "i32"],
      result: "i32",
    },
    cudaMemset: { parameters: ["pointer", "i32", "usize"], result: "i32" },
    cudaDeviceSynchronize: { parameters: [], result: "i32" },
    cudaSetDevice: { parameters: ["i32"], result: "i32" },
    cudaMalloc: { parameters: ["buffer", "usize"], result: "i32" },
    cudaFree: { parameters: ["pointer"], result: "i32" },
    cudaDeviceGetAttribute: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  });
  return cudart.symbols;
}

function ok(call: string, code: number): void {
  if (code !== 0) throw new Error(`${call} failed with CUDA error ${code}`);
}

/**
 * Runs `copies` (addresses in the memory of GPU `device`): a plain copy through `cudaMemcpy`, a
 * pitched one through `cudaMemcpy2D`, all between two synchronisations.
 */
export function copyOnDevice(device: number, copies: readonly BlockCopy[]): void {
  const cuda = lib();
  ok("cudaSetDevice", cuda.cudaSetDevice(device));
  // ONNX Runtime synchronises its stream when a run ends; waiting here too keeps a copy correct
  // if a run ever leaves work in flight (its stream does not wait on the legacy default stream).
  ok("cudaDeviceSynchronize", cuda.cudaDeviceSynchronize());
  for (const c of copies) {
    if (c.width === 0 || c.height === 0) continue;
    const dst = Deno.UnsafePointer.create(c.dst);
    const src = Deno.UnsafePointer.create(c.src);
    if (c.height === 1) ok("cudaMemcpy", cuda.cudaMemcpy(dst, src, BigInt(c.width), DEVICE_TO_DEVICE));
    else {
      ok(
        "cudaMemcpy2D",
        cuda.cudaMemcpy2D(
          dst,
          BigInt(c.dstPitch),
          src,
          BigInt(c.srcPitch),
          BigInt(c.width),
          BigInt(c.height),
          DEVICE_TO_DEVICE,
        ),
      );
    }
  }
  // A device-to-device copy returns before it ends, and ONNX Runtime's stream does not wait on the
  // legacy default stream.
  ok("cudaDeviceSynchronize", cuda.cudaDeviceSynchronize());
}

const maxPitches = new Map<number, number>();

/** The longest pitch `cudaMemcpy2D` takes on GPU `device` (its `memPitch`). */
export function maxPitch(device: number): number {
  let pitch = maxPitches.get(device);
  if (pitch === undefined) {
    const value = new Int32Array(1);
    ok("cudaDeviceGetAttribute", lib().cudaDeviceGetAttribute(value, MAX_PITCH_ATTRIBUTE, device));
    pitch = value[0];
    maxPitches.set(device, pitch);
  }
  return pitch;
}

/** A host copy of `bytes` bytes at device address `src`. */
export function copyToHost(src: Deno.PointerValue, bytes: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  ok("cudaDeviceSynchronize", lib().cudaDeviceSynchronize());
  if (bytes > 0) ok("cudaMemcpy", lib().cudaMemcpy(Deno.UnsafePointer.of(out), src, BigInt(bytes), INFERRED));
  return out;
}

/** Zeroes `bytes` bytes at `dst` in the memory of GPU `device`, then waits. */
export function zeroOnDevice(device: number, dst: Deno.PointerValue, bytes: number): void {
  const cuda = lib();
  ok("cudaSetDevice", cuda.cudaSetDevice(device));
  if (bytes > 0) ok("cudaMemset", cuda.cudaMemset(dst, 0, BigInt(bytes)));
  ok("cudaDeviceSynchronize", cuda.cudaDeviceSynchronize());
}

/** `bytes` bytes of GPU `device`'s memory (contents undefined), outside ONNX Runtime's arena. */
export function allocateOnDevice(device: number, bytes: number): Deno.PointerValue {
  const cuda = lib();
  ok("cudaSetDevice", cuda.cudaSetDevice(device));
  const out = new BigUint64Array(1);
  // cudaMalloc hands out nothing for 0 bytes; a tensor still needs an address.
  ok("cudaMalloc", cuda.cudaMalloc(out, BigInt(Math.max(bytes, 256))));
  return Deno.UnsafePointer.create(out[0]);
}

/** Gives back memory from {@linkcode allocateOnDevice} (after the work queued on it ends). */
export function freeOnDevice(ptr: Deno.PointerValue): void {
  ok("cudaFree", lib().cudaFree(ptr));
}

/** Copies host `data` to device address `dst`; returns once the copy is done. */
export function copyToDevice(dst: Deno.PointerValue, data: Uint8Array<ArrayBuffer>): void {
  if (data.byteLength === 0) return;
  const cuda = lib();
  ok(
    "cudaMemcpy",
    cuda.cudaMemcpy(dst, Deno.UnsafePointer.of(data), BigInt(data.byteLength), HOST_TO_DEVICE),
  );
  // A pageable host-to-device cudaMemcpy may return before its DMA lands, and ONNX Runtime's
  // stream does not wait on the legacy default stream.
  ok("cudaDeviceSynchronize", cuda.cudaDeviceSynchronize());
}
