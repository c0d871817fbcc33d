/**
 * Entry point of `deno task merge OUT.duckdb SHARD.duckdb…`: the runs of `deno task eval --shard`
 * written into one database file per shard, merged into OUT (created if missing) as one run per
 * model with its aggregates recomputed from all shards' samples.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { UserError } from "../core/errors.ts";
import { mergeShards } from "../evals/merge.ts";
import { Store } from "../results/store.ts";
import { runMain } from "./_main.ts";

const HELP = `Usage: deno task merge OUT.duckdb SHARD.duckdb…

Merges the runs that \`deno task eval --shard I/N\` (or --shards N under a Kubernetes Indexed Job
or a Slurm array) wrote into one database per shard: one run per model in OUT, its samples the
union of the shards' and its aggregates recomputed from them, identical to the unsharded run.
A shard that is missing, unfinished or passed twice is named in one line and nothing is written;
a killed shard can be rerun alone into its own database (it resumes) before merging.`;

await runMain(async () => {
  if (Deno.args.some((a) => a === "--help" || a === "-h")) {
    console.log(HELP);
    return;
  }
  const flag = Deno.args.find((a) => a.startsWith("-"));
  if (flag) throw new UserError(`Unknown option "${flag}". Run with --help for the usage`);
  const [out, ...shards] = Deno.args;
  if (!out || shards.length === 0) {
    throw new UserError(
      "Cannot merge without an output and at least one shard: deno task merge OUT.duckdb SHARD…",
    );
  }
  const missing = shards.filter((s) => !existsSync(s));
  if (missing.length > 0) throw new UserError(`Cannot merge ${missing.join(", ")}: no such file`);
  if (shards.includes(out)) throw new UserError(`Cannot merge ${out} into itself: name a new output file`);
  const store = await Store.open(out);
  try {
    const ids = await mergeShards(store, shards);
    console.error(
      `merged ${shards.length} shard databases into ${out}: run${ids.length > 1 ? "s" : ""} ${
        ids.join(", ")
      }`,
    );
  } finally {
    store.close();
  }
});
