/**
 * `deno task eval … --devices 0,1,2,3`: the evaluation as one shard per GPU, each a child process
 * of the same command with `--shard I/N`, its own database file beside `--db` and
 * `CUDA_VISIBLE_DEVICES` set to its GPU; then the shards merged into `--db`. On CPU the same runs
 * N processes side by side.
 *
 * @module
 */

import { dirname, join, parse } from "node:path";
import { fileURLToPath } from "node:url";
import { buildLeaderboard, renderLeaderboard } from "../results/report.ts";
import { writeHtmlReport } from "../results/html/output.ts";
import { mergeShards } from "./merge.ts";
import { Store } from "../results/store.ts";
import { checkEval, defaultModels, type EvalArgs } from "./cli.ts";
import { resolveTasks } from "../tasks/registry.ts";
import { UserError } from "../core/errors.ts";

const EVAL = fileURLToPath(new URL("../scripts/eval.ts", import.meta.url));

/** The database file of shard `index` of `count`, beside `db`. */
export function shardDb(db: string, index: number, count: number): string {
  const { name } = parse(db);
  return join(dirname(db), `${name}.shard-${index}-of-${count}.duckdb`);
}

/** `argv` without the options a shard process gets its own value of. */
function shardArgv(argv: readonly string[]): string[] {
  const own = new Set(["--devices", "--db", "--shard", "--shards"]);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag] = argv[i].split("=", 1);
    if (own.has(flag)) {
      if (!argv[i].includes("=")) i++;
      continue;
    }
    if (argv[i] !== "--no-report") out.push(argv[i]);
  }
  return out;
}

/**
 * Runs the shards of `args` (parsed from `argv`) on `args.devices`, merges them into `args.db`
 * and returns the merged runs' ids.
 *
 * @throws {UserError} naming each shard that failed and the command that reruns it alone.
 */
export async function runOnDevices(args: EvalArgs, argv: readonly string[]): Promise<number[]> {
  const devices = args.devices!;
  const count = devices.length;
  // Every mistake once, before any shard starts.
  await checkEval(args, resolveTasks(args.tasks), args.models.length > 0 ? args.models : defaultModels());
  const base = shardArgv(argv);
  const commands = devices.map((gpu, index) => {
    const shardArgs = [
      ...base,
      "--shard",
      `${index}/${count}`,
      "--db",
      shardDb(args.db, index, count),
      "--no-report",
    ];
    return { gpu, index, shardArgs };
  });
  console.error(`kvbench: ${count} shards on ${args.device} ${devices.join(", ")}, merged into ${args.db}`);
  const codes = await Promise.all(commands.map(async ({ gpu, shardArgs }) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", EVAL, ...shardArgs],
      env: { CUDA_VISIBLE_DEVICES: String(gpu) },
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return (await child.status).code;
  }));
  const failed = commands.filter((_, i) => codes[i] !== 0);
  if (failed.length > 0) {
    throw new UserError(
      `Cannot merge as ${failed.length} of ${count} shards failed (${
        failed.map((c) => `shard ${c.index} on ${c.gpu}, exit ${codes[c.index]}`).join("; ")
      }); its finished samples are kept: rerun it alone, e.g. CUDA_VISIBLE_DEVICES=${failed[0].gpu} ` +
        `deno task eval ${failed[0].shardArgs.join(" ")}, then deno task merge ${args.db} ` +
        commands.map((c) => shardDb(args.db, c.index, count)).join(" "),
    );
  }
  const store = await Store.open(args.db);
  try {
    const ids = await mergeShards(store, commands.map((c) => shardDb(args.db, c.index, count)));
    const board = await buildLeaderboard(store, { runs: ids });
    if (args.report) console.log(renderLeaderboard(board, "table"));
    if (args.reportHtml) {
      console.error(`  wrote ${await writeHtmlReport(store, board, args.reportHtml, { runs: ids })}`);
    }
    return ids;
  } finally {
    store.close();
  }
}
