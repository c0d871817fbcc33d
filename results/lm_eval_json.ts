/**
 * Writes a run as lm-eval writes its output: a results JSON (`results`, `configs`, `versions`,
 * `n-shot`, `config`, …) and, with --log-samples, one `samples_<task>_<date>.jsonl` per task,
 * so lm-eval's own tooling can read kvbench's numbers.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type AnyResponse, lmEvalArguments, lmEvalResponse, type Request } from "../core/requests.ts";
import type { Task, TaskContext } from "../core/tasks.ts";
import type { ResultRow, Store } from "./store.ts";

/** What the writer needs to know about the run. */
export interface LmEvalRun {
  runId: number;
  modelName: string;
  modelDir: string;
  tasks: readonly Task[];
  ctx: TaskContext;
  results: readonly ResultRow[];
  config: Record<string, unknown>;
  gitHash: string;
  /** The chat settings the prompts were built with, as lm-eval records them (absent: plain prompts). */
  chat?: { template: string | null; systemInstruction: string | null; fewshotAsMultiturn: boolean };
}

/**
 * Writes the results JSON (and samples) for a run. `outputPath` ending in `.json` is the file
 * itself; anything else is a directory that gets `<model>/results_<date>.json`.
 * Returns the files written.
 */
export async function writeLmEvalOutput(
  store: Store,
  run: LmEvalRun,
  outputPath: string,
  logSamples: boolean,
): Promise<string[]> {
  const stamp = new Date().toISOString().replaceAll(":", "-").replace(/\.\d+Z$/, "");
  const file = outputPath.endsWith(".json")
    ? outputPath
    : join(outputPath, run.modelName.replaceAll("/", "__"), `results_${stamp}.json`);
  mkdirSync(dirname(file), { recursive: true });
  const results: Record<string, Record<string, unknown>> = {};
  for (const r of run.results) {
    if (r.numKvPairs != null || r.contextLen != null || r.depth != null) continue;
    const entry = results[r.task] ??= { alias: r.task };
    entry[`${r.metric},none`] = r.value;
    entry[`${r.metric}_stderr,none`] = r.stderr ?? "N/A";
  }
  const payload = {
    results,
    groups: {},
    group_subtasks: {},
    configs: Object.fromEntries(run.tasks.map((t) => [
      t.name,
      {
        ...t.config(run.ctx),
        num_fewshot: run.ctx.numFewshot ?? t.defaultFewshot,
        metadata: { version: t.version },
      },
    ])),
    versions: Object.fromEntries(run.tasks.map((t) => [t.name, t.version])),
    "n-shot": Object.fromEntries(run.tasks.map((t) => [t.name, run.ctx.numFewshot ?? t.defaultFewshot])),
    higher_is_better: Object.fromEntries(
      run.tasks.map((
        t,
      ) => [t.name, Object.fromEntries(Object.entries(t.metrics).map(([m, s]) => [m, s.higherIsBetter]))]),
    ),
    "n-samples": Object.fromEntries(
      run.tasks.map((t) => {
        const n = run.results.find((r) =>
          r.task === t.name && r.numKvPairs == null && r.contextLen == null
        )?.n ?? 0;
        return [t.name, { original: n, effective: n }];
      }),
    ),
    config: run.config,
    // lm-eval 0.4.13's top-level record of how prompts were formed.
    chat_template: run.chat?.template ?? null,
    chat_template_sha: run.chat?.template ? sha256(run.chat.template) : null,
    system_instruction: run.chat?.systemInstruction ?? null,
    system_instruction_sha: run.chat?.systemInstruction ? sha256(run.chat.systemInstruction) : null,
    fewshot_as_multiturn: run.chat?.fewshotAsMultiturn ?? false,
    git_hash: run.gitHash,
    date: Date.now() / 1000,
    model_name: run.modelName,
    kvbench_run_id: run.runId,
  };
  writeFileSync(file, JSON.stringify(payload, null, 2) + "\n");
  const written = [file];
  if (logSamples) {
    for (const task of run.tasks) {
      const rows = await store.samples(run.runId, task.name);
      const lines = rows.map((row) => JSON.stringify(sampleRecord(row, Object.keys(task.metrics))));
      const path = join(dirname(file), `samples_${task.name}_${stamp}.jsonl`);
      writeFileSync(path, lines.join("\n") + (lines.length > 0 ? "\n" : ""));
      written.push(path);
    }
  }
  return written;
}

function sampleRecord(row: Record<string, unknown>, metricNames: string[]): Record<string, unknown> {
  const requests = JSON.parse(row.requests as string) as Request[];
  const outputs = JSON.parse(row.outputs as string) as AnyResponse[];
  const metrics = JSON.parse(row.metrics as string) as Record<string, unknown>;
  const args = lmEvalArguments(requests);
  const filtered = outputs.map(lmEvalResponse);
  const doc = JSON.parse(row.doc as string);
  return {
    doc_id: row.doc_id,
    doc,
    target: row.target,
    arguments: args,
    resps: filtered.map((r) => [r]),
    filtered_resps: filtered,
    filter: "none",
    metrics: metricNames,
    doc_hash: sha256(JSON.stringify(doc)),
    prompt_hash: sha256(String(row.prompt)),
    target_hash: sha256(String(row.target)),
    ...metrics,
  };
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
