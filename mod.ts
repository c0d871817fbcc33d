/**
 * kvbench: evaluate ONNX language models whose attention was made KV-efficient, and store every
 * sample, score, cache size and timing in DuckDB.
 *
 * @example Evaluate a model on MQAR and print the leaderboard
 * ```ts ignore
 * import { evaluate, loadBundle, resolveTasks, Store, buildLeaderboard, renderLeaderboard } from "./mod.ts";
 * const store = await Store.open("results/kvbench.duckdb");
 * const bundle = await loadBundle("tests/fixtures/llama");
 * const { tasks } = resolveTasks("mqar");
 * await evaluate(bundle, store, { tasks, limit: 20 });
 * console.log(renderLeaderboard(await buildLeaderboard(store), "table"));
 * ```
 *
 * @module
 */

export { UserError, StateMismatchError } from "./evals/errors.ts";
export { OnnxModel, type Device, type LoadOptions } from "./evals/model/onnx_model.ts";
export { discoverStates, presentNameFor, type StateSpec, type TensorMeta } from "./evals/model/state.ts";
export { Stream, StepLogits, type CacheMeasure } from "./evals/model/stream.ts";
export { TextTokenizer, type BosPolicy } from "./evals/model/tokenizer.ts";
export { loadBundle, type ModelBundle, type Sidecar } from "./evals/model/bundle.ts";
export { LanguageModel, type LmOptions } from "./evals/lm.ts";
export * from "./evals/requests.ts";
export { aggregate, meanStderr, pooledStderr, type Aggregate } from "./evals/metrics.ts";
export { evaluate, type EvaluateOptions, type EvaluateResult } from "./evals/evaluate.ts";
export { resolveTasks, SUITES, TASKS } from "./tasks/registry.ts";
export { mqar, mqarTask, type MqarConfig, type MqarExample } from "./tasks/mqar.ts";
export type { Task, TaskContext, TaskGroup, Prepared, MetricSpec } from "./tasks/types.ts";
export { Store, DEFAULT_DB } from "./results/store.ts";
export { buildLeaderboard, renderLeaderboard, type Leaderboard, type ReportFormat } from "./results/report.ts";
export { writeLmEvalOutput } from "./results/lm_eval_json.ts";
