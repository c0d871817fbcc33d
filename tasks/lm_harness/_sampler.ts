/**
 * lm-eval's few-shot samplers (`lm_eval/api/samplers.py`). One sampler per task, its generator
 * seeded once and advanced doc after doc, so a doc's shots depend on the docs before it (and on
 * --limit), exactly as in lm-eval.
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";
import { PyRandom } from "../../core/python_random.ts";
import { sameValue } from "../data/rows.ts";

/** lm-eval's sampler names: `default` draws at random, `first_n` takes the pool in order. */
export type SamplerKind = "default" | "first_n";

/** Picks the few-shot docs for each evaluated doc. */
export interface FewshotSampler<Doc> {
  /** `n` shots for `evalDoc`. */
  sample(n: number, evalDoc: Doc): Doc[];
}

/** Options of {@linkcode createSampler}. */
export interface SamplerOptions {
  /** The few-shot seed (lm-eval's `fewshot_random_seed`, 1234 by default). */
  seed: number;
  /**
   * Whether the evaluated doc is dropped from its own shots: lm-eval passes it to the sampler
   * when the task's `fewshot_split` equals its `test_split` (both unset counts as equal).
   */
  excludeEvalDoc: boolean;
  /** What the pool is, for messages (e.g. `mmlu_anatomy's dev split`). */
  poolName?: string;
}

/**
 * A sampler over `pool`.
 *
 * @throws {UserError} from `sample` when the pool has fewer docs than asked for.
 */
export function createSampler<Doc>(
  kind: SamplerKind,
  pool: readonly Doc[],
  options: SamplerOptions,
): FewshotSampler<Doc> {
  const rng = new PyRandom(options.seed);
  const tooFew = (n: number, have: number) =>
    new UserError(
      `Cannot take ${n} few-shot examples from ${options.poolName ?? "the few-shot pool"}: it has ${have}; ` +
        `lower --num-fewshot`,
    );
  const without = (docs: readonly Doc[], evalDoc: Doc) => docs.filter((d) => !sameValue(d, evalDoc));
  if (kind === "first_n") {
    return {
      sample(n, evalDoc) {
        const candidates = options.excludeEvalDoc ? without(pool, evalDoc) : pool;
        if (n > candidates.length) throw tooFew(n, candidates.length);
        return candidates.slice(0, n);
      },
    };
  }
  return {
    sample(n, evalDoc) {
      if (n === 0) return [];
      if (n + (options.excludeEvalDoc ? 1 : 0) > pool.length) throw tooFew(n, pool.length);
      if (!options.excludeEvalDoc) return rng.sample(pool, n);
      // One extra draw so that dropping the doc itself still leaves n.
      const drawn = without(rng.sample(pool, n + 1), evalDoc).slice(0, n);
      if (drawn.length < n) throw tooFew(n, drawn.length);
      return drawn;
    },
  };
}
