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

const HELP = `Usage: deno task report [--db PATH] [--format table|markdown|csv|json] [--baseline MODEL]

Prints the leaderboard: the latest finished result per model and task, the average of each
task's headline metric, measured KV bytes/token, compression × against the baseline (default:
the first model of family llama) and tokens/s, then one table per sliced task (e.g. MQAR cells).`;

await runMain(async () => {
  const values = parseFlags(
    Deno.args,
    { db: { type: "string" }, format: { type: "string" }, baseline: { type: "string" } },
    HELP,
  );
  if (values === null) return;
  const formats = ["table", "markdown", "csv", "json"];
  const format = values.format ?? "table";
  if (!formats.includes(format)) {
    throw new UserError(`Cannot render format "${format}": use one of ${formats.join(", ")}`);
  }
  const db = values.db ?? DEFAULT_DB;
  if (!existsSync(db)) {
    throw new UserError(`Cannot read ${db} as it does not exist: run \`deno task eval\` first, or pass --db`);
  }
  const store = await Store.open(db, { readOnly: true });
  try {
    const board = await buildLeaderboard(store, values.baseline ?? null);
    if (values.baseline && board.baseline === null) {
      throw new UserError(
        `Cannot use baseline "${values.baseline}": it has no finished run; models are ${
          board.rows.map((r) => r.model).join(", ")
        }`,
      );
    }
    console.log(renderLeaderboard(board, format as ReportFormat));
  } finally {
    store.close();
  }
});
