/**
 * Where this copy of kvbench comes from, recorded with every run.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };

let cached: string | null = null;

/** The git commit of this checkout (with `+dirty` for uncommitted changes), or `unknown`. */
export function kvbenchCommit(): string {
  if (cached !== null) return cached;
  const cwd = dirname(fileURLToPath(import.meta.url));
  try {
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd, stdio: ["ignore", "pipe", "ignore"] })
      .toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd,
      stdio: ["ignore", "pipe", "ignore"],
    }).toString().trim().length > 0;
    cached = dirty ? `${head}+dirty` : head;
  } catch {
    cached = "unknown";
  }
  return cached;
}

/** kvbench's version, as `deno.json` declares it. */
export const KVBENCH_VERSION: string = denoJson.version;

/**
 * What `--version` prints: kvbench's version and commit, then the runtimes a run records.
 * `ortVersion` is asked for lazily: loading ONNX Runtime can fail, and the rest is still worth printing.
 */
export function versionText(ortVersion: () => string): string {
  let ort: string;
  try {
    ort = ortVersion();
  } catch (error) {
    ort = `not loadable (${String((error as Error).message).split("\n")[0]})`;
  }
  return [
    `kvbench ${KVBENCH_VERSION} (commit ${kvbenchCommit()})`,
    `ONNX Runtime ${ort}`,
    `Deno ${Deno.version.deno}`,
  ].join("\n");
}
