/**
 * `deno task nightly --config nightly.json [--db PATH]`: runs the configured matrix (models ×
 * tasks on one device), files the runs under a new nightly, compares it with the previous
 * nightly in the database, prints what moved, and exits 1 on a regression: a score that drops
 * by more than twice its stderr, or throughput down by more than 10% (both configurable).
 *
 * @module
 */

import { UserError } from "../evals/errors.ts";
import { evaluate } from "../evals/evaluate.ts";
import { evaluateOptions, parseEvalArgs } from "../evals/cli.ts";
import { loadBundle } from "../evals/model/bundle.ts";
import { compareNightlies, evalArgv, nightlyMeasurements, readNightlyConfig } from "../evals/nightly.ts";
import { resolveTasks, TASKS } from "../tasks/registry.ts";
import { DEFAULT_DB, Store } from "../results/store.ts";
import { parseFlags, runMain } from "./_main.ts";

await runMain(async () => {
  const values = parseFlags(
    Deno.args,
    { config: { type: "string" }, db: { type: "string", default: DEFAULT_DB } },
    "deno task nightly --config FILE [--db PATH]\n\n" +
      "Runs the config's matrix of models × tasks, files it as a nightly, compares it with the previous one " +
      "and exits 1 on a regression (see nightly.json and the README).",
  );
  if (values === null) return;
  if (!values.config) throw new UserError("Cannot run the nightly without --config FILE (see nightly.json)");
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
      for (const [i, entry] of config.matrix.entries()) {
        for (const dir of entry.models) {
          const bundle = await loadBundle(dir, config.device, { tf32: flags[i].tf32 });
          const { runId } = await evaluate(bundle, store, {
            ...evaluateOptions(flags[i], selections[i], bundle),
            reuse: false,
            args: { nightly: nightlyId, entry, model: dir, device: config.device },
          });
          await store.addNightlyRun(nightlyId, runId);
          await bundle.model.release();
        }
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
