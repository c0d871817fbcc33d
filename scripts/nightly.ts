/**
 * `deno task nightly --config nightly.json [--db PATH]`: runs the configured matrix (models ×
 * tasks on one device), files the runs under a new nightly, compares it with the previous
 * nightly in the database, prints what moved, and exits 1 on a regression: a score that drops
 * by more than twice its stderr, or throughput down by more than 10% (both configurable).
 *
 * Spread over machines as `eval` is: `--shard I/N` (or `--shards N` under a Kubernetes Indexed Job
 * or a Slurm array) runs that slice of every entry's documents into its own `--db`, without
 * comparing; `--merge SHARD.duckdb…` then merges the shards into `--db` as one nightly and compares.
 *
 * @module
 */

import { UserError } from "../core/errors.ts";
import { evaluate } from "../evals/evaluate.ts";
import { evaluateOptions, parseEvalArgs } from "../evals/cli.ts";
import { loadBundle } from "../evals/model/bundle.ts";
import { compareNightlies, evalArgv, nightlyMeasurements, readNightlyConfig } from "../evals/nightly.ts";
import { resolveTasks, TASKS } from "../tasks/registry.ts";
import { Store } from "../results/store.ts";
import { mergeShards } from "../evals/merge.ts";
import { resolveShard } from "../evals/shard.ts";
import { parseFlags, runMain } from "./_main.ts";
import { DB_FLAG } from "../evals/flags.ts";

await runMain(async () => {
  // `--merge` takes the shard databases that follow it.
  const at = Deno.args.indexOf("--merge");
  let end = at + 1;
  while (at >= 0 && end < Deno.args.length && !Deno.args[end].startsWith("-")) end++;
  const shardFiles = at >= 0 ? Deno.args.slice(at + 1, end) : [];
  const values = parseFlags(
    at >= 0 ? [...Deno.args.slice(0, at + 1), ...Deno.args.slice(end)] : Deno.args,
    {
      config: {
        type: "string",
        value: "FILE",
        help: "the matrix of models × tasks and the thresholds (nightly.json)",
      },
      db: DB_FLAG,
      shard: {
        type: "string",
        value: "I/N",
        help: "run only the I-th (from 0) of N slices of every entry's documents",
      },
      shards: {
        type: "string",
        value: "N",
        help:
          "N slices, this one's index from JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)",
      },
      merge: { type: "boolean", help: "file the shard databases that follow as one nightly, and compare" },
    },
    "Usage: deno task nightly --config FILE [--db PATH] [--shard I/N | --shards N]\n" +
      "       deno task nightly --config FILE --db PATH --merge SHARD.duckdb…\n\n" +
      "Runs the config's matrix of models × tasks, files it as a nightly, compares it with the previous one " +
      "and exits 1 on a regression (see nightly.json and the README). With --shard, runs that slice of every " +
      "entry's documents and compares nothing; --merge files the shards' databases as one nightly and compares.",
  );
  if (values === null) return;
  if (!values.config) throw new UserError("Cannot run the nightly without --config FILE (see nightly.json)");
  const shardCount = values.shards === undefined ? null : Number(values.shards);
  if (shardCount !== null && !(Number.isInteger(shardCount) && shardCount >= 1)) {
    throw new UserError(`--shards must be an integer ≥ 1 (got "${values.shards}")`);
  }
  const shard = resolveShard({ shard: values.shard, shards: shardCount }, Deno.env.toObject());
  if (values.merge && shard) throw new UserError("Pass --merge or --shard/--shards, not both");
  if (values.merge && shardFiles.length === 0) {
    throw new UserError("Cannot merge without the shards' databases: --merge SHARD.duckdb…");
  }
  const config = readNightlyConfig(values.config);
  // An entry is a set of eval's flags: parsed, checked and mapped as `deno task eval` does them.
  const flags = config.matrix.map((e, i) => {
    try {
      return parseEvalArgs(evalArgv(e, config));
    } catch (error) {
      const reason = (error as Error).message.replace(/^Cannot run eval: /, "").replace(
        /\. Run with --help.*$/,
        "",
      );
      throw new UserError(`Cannot use nightly config ${values.config}: matrix[${i}]: ${reason}`);
    }
  });
  const selections = flags.map((f) => resolveTasks(f.tasks));
  const store = await Store.open(values.db!);
  let regressed = false;
  try {
    const nightlyId = await store.startNightly(config);
    try {
      if (values.merge) {
        for (const runId of await mergeShards(store, shardFiles)) await store.addNightlyRun(nightlyId, runId);
      } else {
        for (const [i, entry] of config.matrix.entries()) {
          for (const dir of entry.models) {
            const bundle = await loadBundle(dir, config.device, { tf32: flags[i].tf32 });
            const { runId } = await evaluate(bundle, store, {
              ...evaluateOptions(flags[i], selections[i], bundle),
              shard,
              reuse: false,
              // A shard's runs carry only what its siblings share, so the merge can match them up.
              args: {
                ...(shard ? { tasks: flags[i].tasks, shard } : { nightly: nightlyId }),
                entry,
                model: dir,
                device: config.device,
              },
            });
            await store.addNightlyRun(nightlyId, runId);
            await bundle.model.release();
          }
        }
      }
      if (shard) {
        await store.finishNightly(nightlyId, "done", []);
        console.log(
          `nightly shard ${shard.index}/${shard.count} done in ${values.db}: merge the shards with ` +
            `deno task nightly --config ${values.config} --db OUT --merge SHARD.duckdb…`,
        );
        return;
      }
      const previous = await store.previousNightly(nightlyId);
      const higher = (task: string, metric: string) => TASKS[task]?.metrics[metric]?.higherIsBetter ?? true;
      const movements = previous === null ? [] : compareNightlies(
        await nightlyMeasurements(store, previous, higher),
        await nightlyMeasurements(store, nightlyId, higher),
        config.stderrMultiple ?? 2,
        config.throughputDrop ?? 0.1,
        config.minSpeedSeconds ?? 5,
      );
      regressed = movements.some((m) => m.regression);
      await store.finishNightly(nightlyId, regressed ? "regressed" : "done", movements);
      if (previous === null) {
        console.log(`nightly ${nightlyId}: first nightly in ${values.db}, nothing to compare`);
      } else {
        console.log(`nightly ${nightlyId} against nightly ${previous}:`);
        for (const m of movements) {
          console.log(
            `${m.regression ? "REGRESSION" : "moved     "}  ${m.model}  ${m.task}/${m.metric}  ` +
              `${m.before.toPrecision(5)} → ${m.after.toPrecision(5)}  (allowed ${
                m.metric === "tokens/s" ? `−${(m.allowed * 100).toFixed(0)}%` : `±${m.allowed.toPrecision(3)}`
              })`,
          );
        }
        if (movements.length === 0) console.log("nothing moved");
      }
    } catch (error) {
      await store.finishNightly(nightlyId, "failed", String((error as Error).message ?? error));
      throw error;
    }
  } finally {
    store.close();
  }
  if (regressed) Deno.exit(1);
});
