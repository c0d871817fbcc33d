/**
 * Entry point of `deno task report`.
 *
 * @module
 */

import { UserError } from "../core/errors.ts";
import { type FigureName, FIGURES } from "../results/html/figures.ts";
import { writeFigureSvg, writeHtmlReport } from "../results/html/output.ts";
import { writeParquet } from "../results/parquet.ts";
import { buildLeaderboard, renderLeaderboard, type ReportFormat } from "../results/report.ts";
import { DEFAULT_DB, Store } from "../results/store.ts";
import { existsSync } from "node:fs";
import { parseFlags, runMain } from "./_main.ts";
import { DB_FLAG, type FlagTable } from "../evals/flags.ts";

const USAGE = `Usage: deno task report [--db PATH] [--format table|markdown|csv|json]
                        [--models NAME,…] [--runs ID,…] [--tasks T,…] [--latest] [--baseline NAME]
       deno task report --format html --out DIR [--metric TASK/METRIC] [...]
       deno task report --format svg|png --out FILE --figure ${FIGURES.join("|")} [...]
       deno task report --format parquet --out FILE.parquet [...]

Prints the leaderboard: one row per model with the latest finished result of each task and
metric (value ± stderr), the average of each task's headline metric, measured KV bytes/token,
compression × and tokens/s, then one table per sliced task (e.g. MQAR cells).`;

const REPORT_FLAGS = {
  db: DB_FLAG,
  format: {
    type: "string",
    value: "F",
    help: "table (default) | markdown | csv (one row per model × task × metric × cell,\n" +
      "plain numbers) | json | html | svg | png | parquet",
  },
  models: {
    type: "string",
    value: "A,B",
    help: "only these models, by name (default: every model with a finished run)",
  },
  runs: {
    type: "string",
    value: "3,4",
    help: "only these finished runs, by id (default: all; each model's latest result\nper task wins)",
  },
  tasks: {
    type: "string",
    value: "T,U",
    help: "only these tasks' (and groups') columns; the average over them",
  },
  latest: { type: "boolean", help: "only each model's latest finished run, not each task's latest result" },
  baseline: {
    type: "string",
    value: "NAME",
    help: "measure every row's compression against this model's KV bytes/token\n" +
      "(default: against the model's teacher from its kvbench.json, else the\n" +
      "llama-family model with the same tokenizer, layer count and dtype)",
  },
  out: {
    type: "string",
    value: "PATH",
    help: "with --format html: the folder to write index.html to (one self-contained\n" +
      "page: figures inline as SVG, then the table); with --format svg or parquet\n" +
      "(the csv rows, typed): the file",
  },
  figure: {
    type: "string",
    value: "NAME",
    help: `with --format svg or png: which figure (${FIGURES.join(", ")}); png is drawn\n` +
      "at twice the SVG's size with DejaVu Sans (fonts-dejavu-core)",
  },
  metric: {
    type: "string",
    value: "T/M",
    help: "the accuracy figure's y axis: this task/metric (default: the average)",
  },
} as const satisfies FlagTable;

await runMain(async () => {
  const values = parseFlags(Deno.args, REPORT_FLAGS, USAGE);
  if (values === null) return;
  const formats = ["table", "markdown", "csv", "json", "html", "svg", "png", "parquet"];
  const format = values.format ?? "table";
  if (!formats.includes(format)) {
    throw new UserError(`Cannot render format "${format}": use one of ${formats.join(", ")}`);
  }
  const figure = format === "svg" || format === "png";
  const drawn = format === "html" || figure;
  const toFile = drawn || format === "parquet";
  if (toFile && !values.out) {
    const out = { html: "DIR", svg: "FILE.svg", png: "FILE.png", parquet: "FILE.parquet" }[format as "html"];
    throw new UserError(`--format ${format} writes a file: pass --out ${out}`);
  }
  if (!toFile && values.out !== undefined) {
    throw new UserError(`--out only applies to --format html, svg, png or parquet`);
  }
  if (!drawn && values.metric !== undefined) {
    throw new UserError(`--metric only applies to --format html, svg or png`);
  }
  if (figure && !FIGURES.includes(values.figure as FigureName)) {
    throw new UserError(
      `--format ${format} draws one figure: pass --figure ${FIGURES.join("|")}` +
        (values.figure !== undefined ? ` (got "${values.figure}")` : ""),
    );
  }
  if (!figure && values.figure !== undefined) {
    throw new UserError(`--figure only applies to --format svg or png`);
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
    const tasks = values.tasks?.split(",").map((s) => s.trim()).filter(Boolean) ?? null;
    const options = {
      baseline: values.baseline ?? null,
      models,
      runs,
      tasks,
      latest: values.latest === true,
      metric: values.metric ?? null,
    };
    const board = await buildLeaderboard(store, options);
    if (format === "html") {
      console.log(`Wrote ${await writeHtmlReport(store, board, values.out!, options)}`);
    } else if (figure) {
      if (!values.out!.endsWith(`.${format}`)) {
        throw new UserError(`--format ${format} writes a .${format} file: pass --out FILE.${format}`);
      }
      await writeFigureSvg(store, board, values.figure as FigureName, values.out!, options);
      console.log(`Wrote ${values.out}`);
    } else if (format === "parquet") {
      await writeParquet(board, values.out!);
      console.log(`Wrote ${values.out}`);
    } else {
      console.log(renderLeaderboard(board, format as ReportFormat));
    }
  } finally {
    store.close();
  }
});
