/**
 * The CUDA runtime calls the engine makes itself: its own device memory (tensors that outlive a
 * run, kept out of ONNX Runtime's arena, whose free blocks a captured CUDA graph still writes),
 * device-to-device copies (row gathers of a state that stays on the GPU, a cache buffer moved into
 * a longer one), copies to and from the host, zeroing and a device synchronisation. ONNX Runtime's
 * CUDA provider already loads the same `libcudart.so.13`, so this adds no dependency.
 *
 * @module
 */

const HOST_TO_DEVICE = 1;
const DEVICE_TO_DEVICE = 3;
// Direction taken from the pointers (unified addressing): the caller need not know the GPU index.
const INFERRED = 4;

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
  });
  return cudart.symbols;
}

function ok(call: string, code: number): void {
  if (code !== 0) throw new Error(`${call} failed with CUDA error ${code}`);
}

/** Copies `bytes` between two addresses in the memory of GPU `device`, then waits for the copy. */
export function copyOnDevice(
  device: number,
  copies: readonly { dst: Deno.PointerValue; src: Deno.PointerValue; bytes: number }[],
): void {
  const cuda = lib();
  ok("cudaSetDevice", cuda.cudaSetDevice(device));
  // ONNX Runtime synchronises its stream when a run ends; waiting here too keeps a copy correct
  // if a run ever leaves work in flight (its stream does not wait on the legacy default stream).
  ok("cudaDeviceSynchronize", cuda.cudaDeviceSynchronize());
  for (const { dst, src, bytes } of copies) {
    if (bytes > 0) ok("cudaMemcpy", cuda.cudaMemcpy(dst, src, BigInt(bytes), DEVICE_TO_DEVICE));
  }
  // A device-to-device cudaMemcpy returns before the copy ends, and ONNX Runtime's stream does not
  // wait on the legacy default stream.
  ok("cudaDeviceSynchronize", cuda.cudaDeviceSynchronize());
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

/**
 * Copies `rows` blocks of `width` bytes from `src` (one every `srcPitch` bytes) to `dst` (one every
 * `dstPitch` bytes) on GPU `device`, between two synchronisations (see {@linkcode copyOnDevice}).
 */
export function copyPitched(
  device: number,
  dst: Deno.PointerValue,
  dstPitch: number,
  src: Deno.PointerValue,
  srcPitch: number,
  width: number,
  rows: number,
): void {
  const cuda = lib();
  ok("cudaSetDevice", cuda.cudaSetDevice(device));
  ok("cudaDeviceSynchronize", cuda.cudaDeviceSynchronize());
  if (width > 0 && rows > 0) {
    ok(
      "cudaMemcpy2D",
      cuda.cudaMemcpy2D(
        dst,
        BigInt(dstPitch),
        src,
        BigInt(srcPitch),
        BigInt(width),
        BigInt(rows),
        DEVICE_TO_DEVICE,
      ),
    );
  }
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
