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

export { StateMismatchError, UserError } from "./core/errors.ts";
export { type Device, type LoadOptions, OnnxModel, Tensor } from "./evals/model/onnx_model.ts";
export { OrtError } from "./evals/model/ort/api.ts";
export {
  type OutputRequest,
  Session,
  type SessionOptions,
  type ValueMeta,
} from "./evals/model/ort/session.ts";
export {
  discoverStates,
  presentNameFor,
  stateBytes,
  type StateSpec,
  type TensorMeta,
} from "./evals/model/state.ts";
export { type CacheMeasure, StepLogits, Stream } from "./evals/model/stream.ts";
export { type BosPolicy, TextTokenizer } from "./evals/model/tokenizer.ts";
export { loadBundle, type ModelBundle, type Sidecar } from "./evals/model/bundle.ts";
export { LanguageModel, type LmOptions } from "./evals/lm.ts";
export * from "./core/requests.ts";
export { type Aggregate, aggregate, meanStderr, pooledStderr } from "./evals/metrics.ts";
export { evaluate, type EvaluateOptions, type EvaluateResult } from "./evals/evaluate.ts";
export { resolveTasks, SUITES, TASKS } from "./tasks/registry.ts";
export { mqar, type MqarConfig, type MqarExample, mqarTask } from "./tasks/mqar.ts";
export type { MetricSpec, Prepared, Task, TaskContext, TaskGroup } from "./core/tasks.ts";
export { DEFAULT_DB, Store } from "./results/store.ts";
export {
  buildLeaderboard,
  type Leaderboard,
  type LeaderboardOptions,
  renderLeaderboard,
  type ReportFormat,
} from "./results/report.ts";
export { writeLmEvalOutput } from "./results/lm_eval_json.ts";
