/**
 * How shards become one run: the runs that `deno task eval --shard I/N` wrote into separate
 * database files (one writer per DuckDB file) are matched by model and options, checked for
 * completeness, copied into one run each, and aggregated again from all their samples, so the
 * merged run equals the unsharded evaluation sample for sample and in every aggregate.
 *
 * @module
 */

import { UserError } from "../core/errors.ts";
import { aggregateRun } from "./evaluate.ts";
import type { Shard } from "./shard.ts";
import { resolveTasks } from "../tasks/registry.ts";
import type { Store } from "../results/store.ts";

/** Options that differ between shards of one evaluation and so don't identify it. */
const PER_SHARD = ["shard", "shards", "db", "devices"];

interface ShardRun {
  path: string;
  runId: number;
  status: string;
  model: string;
  shard: Shard;
  args: Record<string, unknown>;
}

/** One evaluation (a model under one set of options), as the shards ran it. */
interface Evaluation {
  model: string;
  args: Record<string, unknown>;
  runs: ShardRun[];
}

/**
 * Merges the sharded runs in the database files `paths` into `out`: one new run per model, its
 * results aggregated from every shard's samples. Returns the new runs' ids.
 *
 * @throws {UserError} naming every shard that is missing, unfinished or present twice, and
 *   any run that was not sharded, before anything is written.
 */
export async function mergeShards(out: Store, paths: readonly string[]): Promise<number[]> {
  if (paths.length === 0) throw new UserError("Cannot merge nothing: name the shards' database files");
  const evaluations = new Map<string, Evaluation>();
  const problems: string[] = [];
  for (const path of paths) {
    for (const row of await out.runsIn(path)) {
      const args = JSON.parse(String(row.args ?? "{}")) as Record<string, unknown>;
      const shard = args.shard as Shard | undefined;
      if (!shard || typeof shard.index !== "number" || typeof shard.count !== "number") {
        problems.push(`${path} run ${row.id} (${row.model_name}) was not run with --shard`);
        continue;
      }
      const common = Object.fromEntries(Object.entries(args).filter(([k]) => !PER_SHARD.includes(k)));
      const key = JSON.stringify([row.model_sha256, common]);
      const evaluation = evaluations.get(key) ??
        { model: String(row.model_name), args: common, runs: [] as ShardRun[] };
      evaluation.runs.push({
        path,
        runId: Number(row.id),
        status: String(row.status),
        model: String(row.model_name),
        shard,
        args,
      });
      evaluations.set(key, evaluation);
    }
  }
  const chosen = [...evaluations.values()].map((e) => {
    const { runs, problems: found } = pick(e);
    problems.push(...found);
    return { e, runs };
  });
  if (problems.length > 0) throw new UserError(`Cannot merge: ${problems.join("; ")}`);
  const ids: number[] = [];
  for (const { e, runs } of chosen) {
    const id = await out.mergeRuns(runs, { ...e.args, mergedFrom: runs.map((s) => s.path) });
    const selection = resolveTasks(String(e.args.tasks));
    const fewshot = typeof e.args.numFewshot === "number" ? e.args.numFewshot : null;
    await aggregateRun(out, id, selection, fewshot);
    await out.finishRun(id, "done");
    ids.push(id);
  }
  return ids;
}

/**
 * One finished run per shard, in shard order: in a file that holds a shard several times (a
 * killed shard rerun into its own database), the latest finished run. What keeps the shards from
 * merging: a shard missing or unfinished everywhere, finished in two files, or disagreeing counts.
 */
function pick(e: Evaluation): { runs: ShardRun[]; problems: string[] } {
  const count = e.runs[0].shard.count;
  if (e.runs.some((r) => r.shard.count !== count)) {
    const counts = e.runs.map((r) => r.shard.count).join(", ");
    return { runs: [], problems: [`${e.model}'s shards disagree on the shard count (${counts})`] };
  }
  const runs: ShardRun[] = [];
  const problems: string[] = [];
  for (let index = 0; index < count; index++) {
    const label = `${e.model} shard ${index}/${count}`;
    const all = e.runs.filter((r) => r.shard.index === index);
    const done = all.filter((r) => r.status === "done");
    if (all.length === 0) problems.push(`${label} is missing: run it and pass its database`);
    else if (done.length === 0) {
      problems.push(
        `${label} did not finish (${all.map((r) => `${r.status} in ${where(r)}`).join(", ")}): ` +
          "rerun that shard alone (it resumes), then merge",
      );
    } else if (new Set(done.map((r) => r.path)).size > 1) {
      problems.push(`${label} is in two databases (${done.map(where).join(", ")}): pass one of them`);
    } else runs.push(done.reduce((a, b) => (b.runId > a.runId ? b : a)));
  }
  return { runs, problems };
}

function where(r: ShardRun): string {
  return `${r.path} run ${r.runId}`;
}
