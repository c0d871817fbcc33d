/**
 * Prints the `perf` rows of a results database as a Markdown table: per run and task, the tokens fed,
 * the model's seconds, its forward calls and the CUDA graphs its decode steps made (how many of them were decode steps is what an end-to-end
 * comparison with another engine needs). Usage: `deno run -A scripts/gpu/perf_rows.ts DB`.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";

const path = Deno.args[0];
if (!path) {
  console.error("perf_rows: give the results database: deno run -A scripts/gpu/perf_rows.ts DB");
  Deno.exit(2);
}
if (!existsSync(path)) {
  console.error(`perf_rows: ${path} does not exist: give a database an eval wrote (--db)`);
  Deno.exit(2);
}
const instance = await DuckDBInstance.create(path, { access_mode: "READ_ONLY" });
const db = await instance.connect();
const reader = await db.runAndReadAll(
  "SELECT run_id, task, tokens, round(seconds, 3) AS seconds, forward_calls, decode_graphs FROM perf ORDER BY run_id, task",
);
const rows = reader.getRowObjects();
console.log(
  "| run | task | tokens | seconds | forward calls | decode graphs |\n| ---: | --- | ---: | ---: | ---: | ---: |",
);
for (const r of rows) {
  console.log(
    `| ${r.run_id} | ${r.task} | ${r.tokens} | ${r.seconds} | ${r.forward_calls} | ${
      r.decode_graphs ?? ""
    } |`,
  );
}
db.closeSync();
