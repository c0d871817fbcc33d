/**
 * kvbench: evaluate ONNX language models whose attention was made KV-efficient, and store every
 * sample, score, cache size and timing in DuckDB.
 *
 * One module per folder, each with a runnable example: `core/mod.ts` (requests, errors, seeded
 * random, task types), `tasks/mod.ts` (the registry), `results/mod.ts` (the store and the report),
 * `evals/mod.ts` (the engine and the evaluator). This module re-exports all four.
 *
 * @example Evaluate a tiny model on MQAR and read its leaderboard
 * ```ts
 * import { buildLeaderboard, evaluate, loadBundle, renderLeaderboard, resolveTasks, Store } from "./mod.ts";
 * const dir = Deno.makeTempDirSync();
 * const store = await Store.open(`${dir}/kvbench.duckdb`);
 * const bundle = await loadBundle("tests/fixtures/llama");
 * const { tasks } = resolveTasks("mqar");
 * await evaluate(bundle, store, { tasks, limit: 2, synthetic: { lengths: [64], kvPairs: [4] }, progress: false });
 * const board = await buildLeaderboard(store);
 * if (board.rows.length !== 1) throw new Error("one model, one row");
 * renderLeaderboard(board, "table");
 * await bundle.model.release();
 * store.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @module
 */

export * from "./core/mod.ts";
export * from "./tasks/mod.ts";
export * from "./results/mod.ts";
export * from "./evals/mod.ts";
