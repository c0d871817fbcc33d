/**
 * Everything about an eval that can be known before the first model runs, checked for every
 * model and task: each model directory (graph, tokenizer, sidecar; no session opened), each task
 * under each model's context (its cells and lengths, its data files when downloads are off), and
 * that --output-path can be written. A mistake is then one line before any work, not a crash
 * after hours of it.
 *
 * @module
 */

import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import type { Task, TaskContext } from "../core/tasks.ts";
import { UserError } from "../core/errors.ts";
import { type BundleInfo, inspectBundle } from "./model/bundle.ts";

/**
 * Checks every model directory, in order, without opening a session.
 *
 * @throws {UserError} for the first one that cannot be loaded.
 */
export function checkModels(dirs: readonly string[]): BundleInfo[] {
  return dirs.map((dir) => inspectBundle(dir));
}

/**
 * Checks each task under `ctx` (one model's context). Returns the tasks' notes on what they leave
 * out, one line per note with the tasks that share it.
 *
 * @throws {UserError} for the first task that cannot be prepared.
 */
export async function checkTasks(tasks: readonly Task[], ctx: TaskContext): Promise<string[]> {
  const byNote = new Map<string, string[]>();
  for (const task of tasks) {
    for (const note of (await task.check?.(ctx)) ?? []) {
      byNote.set(note, [...(byNote.get(note) ?? []), task.name]);
    }
  }
  return [...byNote].map(([note, names]) => `${names.join(", ")} ${note}`);
}

/**
 * Checks that the lm-eval output at `outputPath` (`file.json`, or a folder) can be written, by
 * writing a probe file where it will go; folders made for the probe are removed again.
 *
 * @throws {UserError} saying why it cannot.
 */
export function checkOutputPath(outputPath: string, flag = "--output-path"): void {
  const isFile = outputPath.endsWith(".json");
  const dir = resolve(isFile ? dirname(outputPath) : outputPath);
  let made: string | null = null;
  try {
    if (isFile && existsSync(outputPath) && statSync(outputPath).isDirectory()) {
      throw new Error(`${outputPath} is a folder`);
    }
    for (let d = dir; !existsSync(d); d = dirname(d)) made = d;
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.kvbench-write-check-${process.pid}`);
    writeFileSync(probe, "");
    rmSync(probe);
  } catch (error) {
    const reason = String((error as Error).message).split("\n")[0];
    throw new UserError(
      `Cannot write results to ${flag} ${outputPath} (${reason}): pass ${
        flag === "--output-path" ? "a file.json or " : ""
      }a folder that can be written`,
    );
  } finally {
    // Nothing was made where a parent is a file; removing would only fail again.
    if (made !== null) {
      try {
        rmSync(made, { recursive: true, force: true });
      } catch {
        // left as it is
      }
    }
  }
}
