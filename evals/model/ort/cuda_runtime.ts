/**
 * The CUDA runtime calls the engine makes itself: device-to-device copies (row gathers of a state
 * that stays on the GPU), a copy to the host (reading a tensor left on the device) and a device
 * synchronisation. ONNX Runtime's CUDA provider already
 * loads the same `libcudart.so.13`, so this adds no dependency.
 *
 * @module
 */

const DEVICE_TO_DEVICE = 3;
// Direction taken from the pointers (unified addressing): the caller need not know the GPU index.
const INFERRED = 4;

let cudart:
  | Deno.DynamicLibrary<{
    cudaMemcpy: { parameters: ["pointer", "pointer", "usize", "i32"]; result: "i32" };
    cudaDeviceSynchronize: { parameters: []; result: "i32" };
    cudaSetDevice: { parameters: ["i32"]; result: "i32" };
  }>
  | null = null;

function lib() {
  cudart ??= Deno.dlopen("libcudart.so.13", {
    cudaMemcpy: { parameters: ["pointer", "pointer", "usize", "i32"], result: "i32" },
    cudaDeviceSynchronize: { parameters: [], result: "i32" },
    cudaSetDevice: { parameters: ["i32"], result: "i32" },
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
