/**
 * The engine: how a model is run (ONNX Runtime's C API, state discovered from the graph, streams
 * of tokens with their state on the device), how requests are executed (`LanguageModel`), how a
 * metric is aggregated, cache policies (xKV), and the evaluator that stores everything.
 *
 * @example Score two continuations of one context on a tiny model
 * ```ts
 * import { LanguageModel, loadBundle } from "./mod.ts";
 * const bundle = await loadBundle("tests/fixtures/llama");
 * const lm = new LanguageModel(bundle.model, bundle.tokenizer);
 * const [a, b] = await lm.loglikelihoodTokens([
 *   { context: [5, 9, 14], continuation: [30] },
 *   { context: [5, 9, 14], continuation: [31, 32] },
 * ]);
 * if (!(a.logprob < 0 && b.logprob < 0)) throw new Error("log-probabilities are negative");
 * await bundle.model.release();
 * ```
 *
 * @module
 */

export { type Device, DEVICES, type LoadOptions, OnnxModel, Tensor } from "./model/onnx_model.ts";
export { OrtError } from "./model/ort/api.ts";
export { type OutputRequest, Session, type SessionOptions, type ValueMeta } from "./model/ort/session.ts";
export {
  discoverStates,
  presentNameFor,
  stateBytes,
  type StateSpec,
  type TensorMeta,
} from "./model/state.ts";
export { type CacheMeasure, StepLogits, Stream } from "./model/stream.ts";
export { type BosPolicy, TextTokenizer } from "./model/tokenizer.ts";
export { loadBundle, type ModelBundle, type Sidecar } from "./model/bundle.ts";
export { type CachePolicy, openCachePolicy, type PolicyBytes } from "./model/cache_policy.ts";
export { LanguageModel, type LmOptions } from "./lm.ts";
export { type Aggregate, aggregate, meanStderr, pooledStderr } from "./metrics.ts";
export { evaluate, type EvaluateOptions, type EvaluateResult } from "./evaluate.ts";
