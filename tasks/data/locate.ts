/**
 * Where a dataset file can already be on this machine, in order: the folder given with
 * --data-dir, the huggingface_hub cache, and kvbench's own download cache.
 *
 * ```
 * --data-dir DIR         DIR/<org>/<name>/<path in the repo>
 * huggingface_hub cache  $HF_HUB_CACHE | $HF_HOME/hub | ~/.cache/huggingface/hub
 *                          /datasets--<org>--<name>/snapshots/<commit>/<path in the repo>
 * kvbench cache          $KVBENCH_DATA | ~/.cache/kvbench
 *                          /<org>/<name>/<path in the repo>   (+ <file>.meta.json: revision, commit)
 * ```
 *
 * @module
 */

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { DataFileRecord } from "../../core/tasks.ts";

/** A file found locally. */
export interface Located {
  localPath: string;
  origin: DataFileRecord["origin"];
  /** The commit the file belongs to, when the location says. */
  commit: string | null;
}

/** What kvbench writes next to each file it downloads. */
export interface DownloadMeta {
  url: string;
  revision: string;
  commit: string | null;
  sha256: string;
  bytes: number;
  downloadedAt: string;
}

/** kvbench's download cache: `$KVBENCH_DATA`, else `~/.cache/kvbench`. */
export function kvbenchDataDir(): string {
  return process.env.KVBENCH_DATA || join(homedir(), ".cache", "kvbench");
}

/** The huggingface_hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
export function hfHubCache(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  const home = process.env.HF_HOME ||
    join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface");
  return join(home, "hub");
}

/** `root/<org>/<name>/<path>`: the layout of --data-dir and of kvbench's cache. */
export function layoutPath(root: string, repo: string, path: string): string {
  return join(root, ...repo.split("/"), ...path.split("/"));
}

/** The sidecar kvbench writes next to a downloaded file. */
export function metaPath(file: string): string {
  return `${file}.meta.json`;
}

/** Where to look, in order. Each entry is optional so tests can point at temporary folders. */
export interface SearchRoots {
  dataDir?: string | null;
  hfHubCache?: string | null;
  kvbenchCache?: string | null;
}

/** The first local copy of `path` in dataset `repo` at `revision`, or `null`. */
export function locate(repo: string, revision: string, path: string, roots: SearchRoots): Located | null {
  if (roots.dataDir) {
    const file = layoutPath(roots.dataDir, repo, path);
    if (isFile(file)) {
      return { localPath: file, origin: "data-dir", commit: isCommit(revision) ? revision : null };
    }
  }
  if (roots.hfHubCache) {
    const found = inHfCache(roots.hfHubCache, repo, revision, path);
    if (found) return found;
  }
  if (roots.kvbenchCache) {
    const file = layoutPath(roots.kvbenchCache, repo, path);
    if (isFile(file)) {
      const meta = readMeta(file);
      // A file fetched at another revision is not this one.
      if (!meta || meta.revision === revision) {
        return { localPath: file, origin: "kvbench-cache", commit: meta?.commit ?? null };
      }
    }
  }
  return null;
}

/** Reads a download's sidecar, or `null` when there is none or it is unreadable. */
export function readMeta(file: string): DownloadMeta | null {
  try {
    return JSON.parse(readFileSync(metaPath(file), "utf8")) as DownloadMeta;
  } catch {
    return null;
  }
}

/**
 * A file in a huggingface_hub cache: the snapshot the revision's ref points at, else (a commit
 * not yet resolved, or a cache copied without refs) the newest snapshot that has the file.
 */
function inHfCache(cache: string, repo: string, revision: string, path: string): Located | null {
  const repoDir = join(cache, `datasets--${repo.replaceAll("/", "--")}`);
  const snapshots = join(repoDir, "snapshots");
  if (!existsSync(snapshots)) return null;
  const commit = isCommit(revision) ? revision : readRef(join(repoDir, "refs", ...revision.split("/")));
  if (commit) {
    const file = join(snapshots, commit, ...path.split("/"));
    if (isFile(file)) return { localPath: file, origin: "hf-cache", commit };
    if (isCommit(revision)) return null;
  }
  const candidates = readdirSync(snapshots)
    .map((name) => ({ name, file: join(snapshots, name, ...path.split("/")) }))
    .filter((c) => isFile(c.file))
    .sort((a, b) => statSync(b.file).mtimeMs - statSync(a.file).mtimeMs);
  return candidates.length > 0
    ? { localPath: candidates[0].file, origin: "hf-cache", commit: candidates[0].name }
    : null;
}

function readRef(file: string): string | null {
  try {
    const value = readFileSync(file, "utf8").trim();
    return isCommit(value) ? value : null;
  } catch {
    return null;
  }
}

function isCommit(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
