/**
 * Where onnxruntime-node keeps its native libraries, and whether an execution provider's
 * library is installed beside them.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import process from "node:process";

/** The shared libraries each non-CPU provider needs beside `libonnxruntime.so.1`. */
export const PROVIDER_LIBRARIES: Record<string, string[]> = {
  cuda: ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"],
};

/** The folder holding onnxruntime-node's binding and libonnxruntime for this platform. */
export function bindingDir(): string {
  const entry = createRequire(import.meta.url).resolve("onnxruntime-node");
  // …/onnxruntime-node/dist/index.js → …/onnxruntime-node/bin/napi-v6/<platform>/<arch>
  return join(dirname(entry), "..", "bin", "napi-v6", process.platform, process.arch);
}

/** The libraries `device` needs that are missing from the binding folder. */
export function missingProviderLibraries(device: string): string[] {
  const dir = bindingDir();
  return (PROVIDER_LIBRARIES[device] ?? []).filter((lib) => !existsSync(join(dir, lib)));
}

/** The TF32 setting the CUDA libraries of this process were started with, once they were. */
let startedTf32: boolean | null = null;

/**
 * Fixes whether CUDA may round float32 matrix products to TF32 for this process, before the
 * first CUDA session starts. onnxruntime-node passes the CUDA provider no options but the device
 * id, and cuBLAS/cuDNN read `NVIDIA_TF32_OVERRIDE` when they start, so the environment variable is
 * the one switch; it cannot change once the libraries are loaded. Off matches PyTorch's default
 * (`torch.backends.cuda.matmul.allow_tf32 = False`) and keeps float32 logits within 1e-5 of the
 * CPU path; on is onnxruntime's default and faster.
 *
 * @throws {Error} when another setting was already started in this process, or `on` is asked
 *   while the environment forces TF32 off.
 */
export function startTf32(enabled: boolean): void {
  if (startedTf32 !== null) {
    if (startedTf32 !== enabled) {
      throw new Error(
        `Cannot turn TF32 ${enabled ? "on" : "off"}: this process started CUDA with TF32 ${
          startedTf32 ? "on" : "off"
        }; use one setting per process`,
      );
    }
    return;
  }
  const forced = process.env.NVIDIA_TF32_OVERRIDE;
  if (enabled && forced === "0") {
    throw new Error("Cannot turn TF32 on: NVIDIA_TF32_OVERRIDE=0 is set in the environment; unset it");
  }
  if (!enabled) process.env.NVIDIA_TF32_OVERRIDE = "0";
  startedTf32 = enabled;
}
