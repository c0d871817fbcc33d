/**
 * Loads a split of a Hugging Face dataset for a task: finds a local copy (see `locate.ts`),
 * else downloads it into kvbench's cache, reads its rows, and reports the file it used so the run
 * can record it.
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { UserError } from "../../core/errors.ts";
import type { DataFileRecord, TaskContext } from "../../core/tasks.ts";
import { downloadFile, HttpStatusError, hubEndpoint, hubFileUrl, sha256File } from "./hub.ts";
import {
  hfHubCache,
  kvbenchDataDir,
  layoutPath,
  locate,
  type Located,
  metaPath,
  type SearchRoots,
} from "./locate.ts";
import { type DataFile, readRows } from "./read.ts";
import type { Row } from "./rows.ts";

export type { DataFile } from "./read.ts";

/** Where one split of a dataset lives on the hub. */
export interface SplitSource {
  /** Dataset repository, e.g. `allenai/ai2_arc`. */
  repo: string;
  /** Revision: branch, tag or commit. */
  revision: string;
  /** Split name, for messages. */
  split: string;
  /** The file holding the split; alternatives in order of preference when repos differ by revision. */
  files: readonly DataFile[];
}

/** A loaded split. */
export interface LoadedSplit {
  /** Rows in file order. */
  rows: Row[];
  /** Where they were read, for messages about a row (`path` or `path (member m)`). */
  where: string;
  /** What was read. */
  record: DataFileRecord;
}

/** Where {@linkcode loadSplit} looks and whether it may download; defaults come from the environment. */
export interface LoadOptions {
  /** Task name, for messages. */
  task: string;
  /** The run's context: `dataDir`, `download`, `onDataFile`. */
  ctx?: Pick<TaskContext, "dataDir" | "download" | "onDataFile">;
  /** Overrides the huggingface_hub cache folder (`null` skips it). */
  hfHubCache?: string | null;
  /** Overrides kvbench's cache folder. */
  kvbenchCache?: string;
  /** Overrides the hub's base URL. */
  endpoint?: string;
  /** Progress bar while downloading (defaults to whether stderr is a terminal). */
  progress?: boolean;
}

/**
 * Reads a split, from the first local copy of one of its files, else from a fresh download.
 *
 * @throws {UserError} naming the exact file expected, where to put it and how to fetch it, when
 * it is nowhere locally and cannot be downloaded; or naming the file when it cannot be read.
 */
export async function loadSplit(source: SplitSource, options: LoadOptions): Promise<LoadedSplit> {
  const roots = searchRoots(options);
  const kvbenchCache = roots.kvbenchCache!;
  for (const file of source.files) {
    const found = locate(source.repo, source.revision, file.path, roots);
    if (found) return await read(source, file, found, options);
  }
  const endpoint = options.endpoint ?? hubEndpoint();
  if (options.ctx?.download === false) throw missing(source, options, roots, endpoint, "downloads are off");
  const failures: string[] = [];
  for (const file of source.files) {
    const url = hubFileUrl(source.repo, source.revision, file.path, endpoint);
    const dest = layoutPath(kvbenchCache, source.repo, file.path);
    try {
      const got = await downloadFile(url, dest, {
        label: `${source.repo}/${file.path}`,
        progress: options.progress,
      });
      writeFileSync(
        metaPath(dest),
        JSON.stringify(
          {
            url,
            revision: source.revision,
            commit: got.commit,
            sha256: got.sha256,
            bytes: got.bytes,
            downloadedAt: new Date().toISOString(),
          },
          null,
          2,
        ) + "\n",
      );
      return await read(
        source,
        file,
        { localPath: dest, origin: "download", commit: got.commit },
        options,
        got.sha256,
      );
    } catch (error) {
      if (error instanceof UserError) throw error;
      failures.push(
        error instanceof HttpStatusError ? `HTTP ${error.status}` : String((error as Error).message),
      );
      // A 404 means this revision stores the split under another name: try the next one.
      if (!(error instanceof HttpStatusError && error.status === 404)) break;
    }
  }
  throw missing(source, options, roots, endpoint, `downloading it failed: ${failures.join("; ")}`);
}

/**
 * Checks, without reading it, that a split is on this machine (the files {@linkcode loadSplit}
 * would find), so that with downloads off a missing file is reported before any model runs.
 *
 * @throws {UserError} as `loadSplit` does for a file that is nowhere locally.
 */
export function requireLocalSplit(source: SplitSource, options: LoadOptions): void {
  const roots = searchRoots(options);
  if (source.files.some((file) => locate(source.repo, source.revision, file.path, roots))) return;
  throw missing(source, options, roots, options.endpoint ?? hubEndpoint(), "downloads are off");
}

function searchRoots(options: LoadOptions): SearchRoots {
  return {
    dataDir: options.ctx?.dataDir ?? null,
    hfHubCache: options.hfHubCache === undefined ? hfHubCache() : options.hfHubCache,
    kvbenchCache: options.kvbenchCache ?? kvbenchDataDir(),
  };
}

async function read(
  source: SplitSource,
  file: DataFile,
  found: Located,
  options: LoadOptions,
  knownSha256?: string,
): Promise<LoadedSplit> {
  const rows = await readRows(found.localPath, file);
  const sha256 = knownSha256 ?? await sha256File(found.localPath);
  const record: DataFileRecord = {
    repo: source.repo,
    revision: source.revision,
    commit: found.commit,
    path: file.path,
    member: file.member ?? null,
    localPath: found.localPath,
    origin: found.origin,
    sha256,
    bytes: (await Deno.stat(found.localPath)).size,
  };
  options.ctx?.onDataFile?.(record);
  return {
    rows,
    where: file.member ? `${found.localPath} (member ${file.member})` : found.localPath,
    record,
  };
}

function missing(
  source: SplitSource,
  options: LoadOptions,
  roots: SearchRoots,
  endpoint: string,
  why: string,
) {
  const file = source.files[0];
  const root = roots.dataDir ?? roots.kvbenchCache!;
  const dest = layoutPath(root, source.repo, file.path);
  const url = hubFileUrl(source.repo, source.revision, file.path, endpoint);
  const others = source.files.length > 1
    ? ` (or one of ${source.files.slice(1).map((f) => f.path).join(", ")} in the same folder)`
    : "";
  return new UserError(
    `Cannot load ${options.task} (${source.repo}, split ${source.split}) as ${source.repo}/${file.path} is missing ` +
      `and ${why}: put it at ${dest}${others}, e.g. curl -L --create-dirs -o '${dest}' '${url}'`,
  );
}
