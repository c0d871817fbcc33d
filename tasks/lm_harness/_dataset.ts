/**
 * A harness task's dataset: which hub repository, config and splits lm-eval uses, and the files
 * holding each split. Loads docs for the evaluated split and the few-shot pool.
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";
import { type DataFile, loadSplit, requireLocalSplit } from "../data/datasets.ts";
import { RowFields } from "../data/rows.ts";
import { limitDocs } from "../limit.ts";
import type { TaskContext } from "../../core/tasks.ts";

/** lm-eval's dataset settings of a task, plus where each split is stored. */
export interface HarnessDataset {
  /** Hub repository (lm-eval's `dataset_path`). */
  path: string;
  /** Config (lm-eval's `dataset_name`), `null` for none. */
  name: string | null;
  /** Split evaluated: lm-eval's `test_split` if set, else `validation_split`. */
  split: string;
  /** Few-shot pool: `fewshot_split`, else train, else validation, else test, as lm-eval picks. */
  fewshotSplit: string;
  /**
   * Whether a doc is kept out of its own shots. lm-eval does this when the YAML's `fewshot_split`
   * equals its `test_split`, which includes tasks that set neither (HellaSwag, PIQA, …).
   */
  excludeEvalDoc: boolean;
  /** Revision of the repository. @default {"main"} */
  revision?: string;
  /** The file(s) of each split used, alternatives in order of preference. */
  files: Readonly<Record<string, readonly DataFile[]>>;
}

/** The revision a dataset is read at. */
export function revisionOf(dataset: HarnessDataset): string {
  return dataset.revision ?? "main";
}

/**
 * The docs of one split, each row checked and turned into a doc by `parse`.
 *
 * @throws {UserError} when the split is missing (see `loadSplit`) or a row is malformed.
 */
export async function loadDocs<Doc>(
  dataset: HarnessDataset,
  split: string,
  parse: (fields: RowFields) => Doc,
  task: string,
  ctx: TaskContext,
): Promise<Doc[]> {
  const files = dataset.files[split];
  if (!files) throw new UserError(`Cannot load ${task}: it declares no files for split "${split}"`);
  const loaded = await loadSplit(
    { repo: dataset.path, revision: revisionOf(dataset), split, files },
    { task, ctx },
  );
  return loaded.rows.map((row, i) => parse(new RowFields(row, loaded.where, i)));
}

/** The evaluated docs, as many as `ctx.limit` keeps (a count or a fraction), and the few-shot pool when shots are asked for. */
export async function loadTaskDocs<Doc>(
  dataset: HarnessDataset,
  parse: (fields: RowFields) => Doc,
  task: string,
  ctx: TaskContext,
  numFewshot: number,
): Promise<{ docs: Doc[]; pool: Doc[] }> {
  const all = await loadDocs(dataset, dataset.split, parse, task, ctx);
  const docs = all.slice(0, limitDocs(all.length, ctx.limit));
  if (numFewshot === 0) return { docs, pool: [] };
  const pool = dataset.fewshotSplit === dataset.split
    ? all
    : await loadDocs(dataset, dataset.fewshotSplit, parse, task, ctx);
  return { docs, pool };
}

/**
 * A harness task's `check`: with downloads off, the files {@linkcode loadTaskDocs} would read must
 * be on this machine (the few-shot split's only when shots are asked for).
 *
 * @throws {UserError} naming the missing file and where to put it.
 */
export function checkTaskData(
  dataset: HarnessDataset,
  task: string,
  ctx: TaskContext,
  numFewshot: number,
): Promise<string[]> {
  return new Promise((resolve) => {
    if (ctx.download !== false) return resolve([]);
    const splits = numFewshot > 0 && dataset.fewshotSplit !== dataset.split
      ? [dataset.split, dataset.fewshotSplit]
      : [dataset.split];
    for (const split of splits) {
      const files = dataset.files[split];
      if (!files) throw new UserError(`Cannot load ${task}: it declares no files for split "${split}"`);
      requireLocalSplit({ repo: dataset.path, revision: revisionOf(dataset), split, files }, { task, ctx });
    }
    resolve([]);
  });
}

/** The dataset part of a task's recorded configuration, in lm-eval's key names where it has them. */
export function datasetConfig(dataset: HarnessDataset): Record<string, unknown> {
  return {
    dataset_path: dataset.path,
    dataset_name: dataset.name,
    dataset_revision: revisionOf(dataset),
    eval_split: dataset.split,
    fewshot_split: dataset.fewshotSplit,
    dataset_files: Object.fromEntries(
      Object.entries(dataset.files).map((
        [split, files],
      ) => [split, files.map((f) => f.member ? `${f.path}#${f.member}` : f.path)]),
    ),
  };
}
