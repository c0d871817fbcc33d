/**
 * `deno task setup:cuda`: puts ONNX Runtime's CUDA execution provider next to onnxruntime-node.
 *
 * onnxruntime-node 1.29 ships only the CPU (and, on linux-x64, WebGPU) providers. Its CUDA
 * provider comes from the npm package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 — ONNX
 * Runtime 1.29.0 built for CUDA 13 — whose `libonnxruntime_providers_*.so` files are copied
 * beside `libonnxruntime.so.1`. `--from DIR` copies them from a folder instead (for instance an
 * unpacked ONNX Runtime 1.29 CUDA 12 release where a machine can download it).
 *
 * @module
 */

import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../core/errors.ts";
import { bindingDir, missingProviderLibraries, PROVIDER_LIBRARIES } from "../evals/model/providers.ts";
import { parseFlags, runMain } from "./_main.ts";

const PACKAGE = "com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9";

function findLibraries(root: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /^libonnxruntime_providers_.*\.so$/.test(entry.name)) {
      found.push(join(entry.parentPath, entry.name));
    }
  }
  return found;
}

await runMain(() => {
  const values = parseFlags(
    Deno.args,
    {
      from: {
        type: "string",
        value: "DIR",
        help: "copy the libonnxruntime_providers_*.so found under DIR instead",
      },
    },
    "Usage: deno task setup:cuda [--from DIR]\n\n" +
      `Copies ONNX Runtime's CUDA provider (${PACKAGE}, or the libonnxruntime_providers_*.so under DIR) ` +
      "beside onnxruntime-node's libonnxruntime.so.1.",
  );
  if (values === null) return;
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    throw new UserError(
      `Cannot install the CUDA provider on ${Deno.build.os}/${Deno.build.arch}: it is built for linux x86_64`,
    );
  }
  const target = bindingDir();
  if (!existsSync(join(target, "libonnxruntime.so.1"))) {
    throw new UserError(`Cannot find onnxruntime-node's libraries in ${target}: run \`deno install\` first`);
  }
  let source = values.from ?? "";
  let scratch: string | null = null;
  if (!source) {
    scratch = mkdtempSync(join(tmpdir(), "kvbench-cuda-"));
    console.error(`downloading ${PACKAGE} from the npm registry…`);
    try {
      execFileSync("npm", ["pack", "--silent", PACKAGE], {
        cwd: scratch,
        stdio: ["ignore", "pipe", "inherit"],
      });
      const tgz = readdirSync(scratch).find((f) => f.endsWith(".tgz"));
      if (!tgz) throw new Error("npm pack wrote no archive");
      execFileSync("tar", ["xzf", tgz], { cwd: scratch });
    } catch (error) {
      throw new UserError(
        `Cannot download ${PACKAGE} (${(error as Error).message.split("\n")[0]}): check npm can reach its ` +
          `registry, or pass --from DIR with the provider libraries`,
      );
    }
    source = scratch;
  }
  const libraries = findLibraries(source);
  if (libraries.length === 0) {
    throw new UserError(
      `Cannot find libonnxruntime_providers_*.so under ${source}: pass --from the folder holding them`,
    );
  }
  for (const lib of libraries) {
    copyFileSync(lib, join(target, lib.split("/").at(-1)!));
    console.error(`installed ${lib.split("/").at(-1)} → ${target}`);
  }
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  const missing = missingProviderLibraries("cuda");
  if (missing.length > 0) throw new UserError(`Still missing after the copy: ${missing.join(", ")}`);
  console.error(
    `CUDA provider ready (${PROVIDER_LIBRARIES.cuda.join(", ")}). It needs CUDA 13 and cuDNN 9 on the ` +
      "library path (e.g. LD_LIBRARY_PATH=/usr/local/cuda/targets/x86_64-linux/lib).",
  );
});
