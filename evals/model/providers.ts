/**
 * Where onnxruntime-node keeps its native libraries (kvbench loads its `libonnxruntime.so.1`
 * through the C API), and whether an execution provider's library is installed beside them.
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
