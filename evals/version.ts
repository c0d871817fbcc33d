/**
 * Where this copy of kvbench comes from, recorded with every run.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

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
