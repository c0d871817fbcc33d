/**
 * Entry point of `deno task report`.
 *
 * @module
 */

import { UserError } from "../evals/errors.ts";
import { buildLeaderboard, renderLeaderboard, type ReportFormat } from "../results/report.ts";
import { DEFAULT_DB, Store } from "../results/store.ts";
import { existsSync } from "node:fs";
import { parseFlags, runMain } from "./_main.ts";

const HELP = `Usage: deno task report [--db PATH] [--format table|markdown|csv|json]
                        [--models NAME,…] [--runs ID,…] [--baseline NAME]

Prints the leaderboard: one row per model with the latest finished result of each task and
metric (value ± stderr), the average of each task's headline metric, measured KV bytes/token,
compression × and tokens/s, then one table per sliced task (e.g. MQAR cells).

  --db PATH         results database (default: ${DEFAULT_DB})
  --format F        table (default) | markdown | csv (one row per model × task × metric × cell,
                    plain numbers) | json
  --models A,B      only these models, by name (default: every model with a finished run)
  --runs 3,4        only these finished runs, by id (default: all; each model's latest result
                    per task wins)
  --baseline NAME   measure every row's compression against this model's KV bytes/token
                    (default: against the llama-family model with the same tokenizer, layer
                    count and dtype; none where there is no such model)`;

await runMain(async () => {
  const values = parseFlags(
    Deno.args,
    {
      db: { type: "string" },
      format: { type: "string" },
      baseline: { type: "string" },
      models: { type: "string" },
      runs: { type: "string" },
    },
    HELP,
  );
  if (values === null) return;
  const formats = ["table", "markdown", "csv", "json"];
  const format = values.format ?? "table";
  if (!formats.includes(format)) {
    throw new UserError(`Cannot render format "${format}": use one of ${formats.join(", ")}`);
  }
  const models = values.models?.split(",").map((s) => s.trim()).filter(Boolean) ?? null;
  const runs = values.runs?.split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
    const id = Number(s);
    if (!Number.isInteger(id) || id < 1) {
      throw new UserError(`--runs takes run ids, comma-separated integers ≥ 1 (got "${values.runs}")`);
    }
    return id;
  }) ?? null;
  const db = values.db ?? DEFAULT_DB;
  if (!existsSync(db)) {
    throw new UserError(`Cannot read ${db} as it does not exist: run \`deno task eval\` first, or pass --db`);
  }
  const store = await Store.open(db, { readOnly: true });
  try {
    const board = await buildLeaderboard(store, { baseline: values.baseline ?? null, models, runs });
    console.log(renderLeaderboard(board, format as ReportFormat));
  } finally {
    store.close();
  }
});
