/**
 * How results are stored and read: the DuckDB store (runs, samples, results, perf), the
 * leaderboard built from it, and its renderings (table, markdown, CSV, JSON, HTML, lm-eval JSON).
 *
 * @example An empty store's leaderboard
 * ```ts
 * import { buildLeaderboard, renderLeaderboard, Store } from "./mod.ts";
 * const dir = Deno.makeTempDirSync();
 * const store = await Store.open(`${dir}/kvbench.duckdb`);
 * const board = await buildLeaderboard(store);
 * if (board.rows.length !== 0) throw new Error("a new store has no runs");
 * renderLeaderboard(board, "markdown");
 * store.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @module
 */

export { DEFAULT_DB, type PerfRow, type ResultRow, type RunInfo, type SampleRow, Store } from "./store.ts";
export {
  buildLeaderboard,
  type Leaderboard,
  type LeaderboardOptions,
  type LeaderboardRow,
  renderLeaderboard,
  type ReportFormat,
} from "./report.ts";
export { type LmEvalRun, writeLmEvalOutput } from "./lm_eval_json.ts";
export { writeFigureSvg, writeHtmlReport } from "./html/output.ts";
