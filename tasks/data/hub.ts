/**
 * Downloads from the Hugging Face hub: a file of a dataset repository at a revision, resumed
 * from a `.part` file with an HTTP Range request, with a byte progress bar, returning the
 * SHA-256 of what landed and the commit the hub served it from.
 *
 * @module
 */

import cliProgress from "cli-progress";
import { createHash } from "node:crypto";
import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import process from "node:process";

/** The hub used when `HF_ENDPOINT` is not set. */
export const DEFAULT_HUB = "https://huggingface.co";

/** The hub's base URL: `HF_ENDPOINT` (huggingface_hub's variable, for mirrors) or the public hub. */
export function hubEndpoint(): string {
  return (process.env.HF_ENDPOINT ?? DEFAULT_HUB).replace(/\/+$/, "");
}

/** The `resolve` URL of `path` in dataset `repo` at `revision`. */
export function hubFileUrl(repo: string, revision: string, path: string, endpoint = hubEndpoint()): string {
  const encodedPath = path.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/datasets/${repo}/resolve/${encodeURIComponent(revision)}/${encodedPath}`;
}

/** What {@linkcode downloadFile} fetched. */
export interface Downloaded {
  /** Where the file now is. */
  path: string;
  /** SHA-256 of its bytes, hex. */
  sha256: string;
  /** Its size. */
  bytes: number;
  /** The commit the hub reported (`X-Repo-Commit`), if it did. */
  commit: string | null;
  /** Bytes that were already there from an interrupted download. */
  resumedFrom: number;
}

/** Options of {@linkcode downloadFile}. */
export interface DownloadOptions {
  /** Bar label. @default {the file name} */
  label?: string;
  /** Show a progress bar (defaults to whether stderr is a terminal). */
  progress?: boolean;
}

/** An HTTP answer other than success, kept apart so callers can try another file on a 404. */
export class HttpStatusError extends Error {
  /** Creates the error for `url` answering `status`. */
  constructor(readonly url: string, readonly status: number) {
    super(`${url} answered HTTP ${status}`);
    this.name = "HttpStatusError";
  }
}

/**
 * Downloads `url` to `dest`. Bytes arrive in `dest + ".part"`, so an interrupted download
 * resumes where it stopped (when the server honours Range) and `dest` only ever holds a whole
 * file.
 *
 * @throws {HttpStatusError} when the server answers with an error status.
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<Downloaded> {
  mkdirSync(dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  let have = fileSize(part);
  let { response, commit } = await fetchFollowing(url, have);
  if (response.status === 416 && have > 0) {
    // The part may already be whole (we died before renaming); otherwise start over.
    await response.body?.cancel();
    if (totalFromContentRange(response.headers.get("content-range")) === have) {
      return finish(part, dest, commit, have);
    }
    rmSync(part, { force: true });
    have = 0;
    ({ response, commit } = await fetchFollowing(url, 0));
  }
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel();
    throw new HttpStatusError(url, response.status);
  }
  const resumed = response.status === 206 &&
    startFromContentRange(response.headers.get("content-range")) === have;
  if (!resumed) have = 0;
  const length = Number(response.headers.get("content-length") ?? NaN);
  const total = Number.isFinite(length) ? have + length : 0;
  const bar = byteBar(options.label ?? dest.split("/").pop()!, total, have, options.progress);
  const file = await Deno.open(part, { write: true, create: true, append: resumed, truncate: !resumed });
  try {
    for await (const chunk of response.body ?? []) {
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
      bar.tick(chunk.length);
    }
  } finally {
    file.close();
    bar.stop();
  }
  return finish(part, dest, commit, have);
}

/** SHA-256 of a file's bytes, hex, read in chunks. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  // The readable stream closes the file when it ends or is abandoned.
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

async function finish(
  part: string,
  dest: string,
  commit: string | null,
  resumedFrom: number,
): Promise<Downloaded> {
  const sha256 = await sha256File(part);
  const bytes = fileSize(part);
  renameSync(part, dest);
  return { path: dest, sha256, bytes, commit, resumedFrom };
}

/**
 * Fetches with redirects followed by hand: the hub names the commit (`X-Repo-Commit`) on its
 * redirect to the CDN, which an automatically followed fetch would hide.
 */
async function fetchFollowing(
  url: string,
  from: number,
): Promise<{ response: Response; commit: string | null }> {
  let commit: string | null = null;
  let current = url;
  for (let hop = 0; hop < 10; hop++) {
    const headers: Record<string, string> = from > 0 ? { Range: `bytes=${from}-` } : {};
    const response = await fetch(current, { headers, redirect: "manual" });
    commit = response.headers.get("x-repo-commit") ?? commit;
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      current = new URL(location, current).href;
      continue;
    }
    return { response, commit };
  }
  throw new Error(`Cannot download ${url}: more than 10 redirects`);
}

function startFromContentRange(header: string | null): number | null {
  const match = header?.match(/^bytes (\d+)-/);
  return match ? Number(match[1]) : null;
}

function totalFromContentRange(header: string | null): number | null {
  const match = header?.match(/\/(\d+)$/);
  return match ? Number(match[1]) : null;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

interface ByteBar {
  tick(n: number): void;
  stop(): void;
}

function byteBar(
  label: string,
  total: number,
  start: number,
  enabled = process.stderr.isTTY === true,
): ByteBar {
  if (!enabled) return { tick() {}, stop() {} };
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {percentage}% | {done}/{size} MB | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  let value = start;
  bar.start(total || 1, start, { done: mb(start), size: total ? mb(total) : "?" });
  return {
    tick(n) {
      value += n;
      bar.update(Math.min(value, total || value), { done: mb(value), size: total ? mb(total) : "?" });
    },
    stop: () => bar.stop(),
  };
}
