/**
 * How a metric is computed from samples: lm-eval's aggregations and standard errors.
 *
 * @module
 */

import type { Aggregation, SampleValue } from "../core/tasks.ts";
import { PyRandom } from "../core/python_random.ts";

/** An aggregated metric. */
export interface Aggregate {
  /** The score. */
  value: number;
  /** Its standard error, or `null` where lm-eval reports none. */
  stderr: number | null;
  /** Samples aggregated. */
  n: number;
}

/** Mean of `xs`. */
export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n − 1), as Python's `statistics.stdev`. */
export function sampleStddev(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** lm-eval's `mean_stderr`: sample stddev over √n. */
export function meanStderr(xs: readonly number[]): number {
  return xs.length > 1 ? sampleStddev(xs) / Math.sqrt(xs.length) : 0;
}

/**
 * lm-eval's `bootstrap_stderr`: `iters` resamples in chunks of (at most) 1,000, chunk `i` drawn
 * by Python's `random.Random(i).choices(xs, k=len(xs))`, and the sample stddev of `stat` over
 * them. The resamples are lm-eval's own, draw for draw; the value can still differ from lm-eval's
 * in the last digits where `Math.exp` and C's `exp` round differently.
 */
export function bootstrapStderr(
  xs: readonly number[],
  stat: (sample: number[]) => number,
  iters = 100_000,
): number {
  const chunk = Math.min(1000, iters);
  const values: number[] = [];
  for (let i = 0; i < Math.floor(iters / chunk); i++) {
    const rng = new PyRandom(i);
    for (let j = 0; j < chunk; j++) values.push(stat(rng.choices(xs, xs.length)));
  }
  return sampleStddev(values);
}

/** Aggregates per-sample values as `aggregation` says. */
export function aggregate(
  values: readonly SampleValue[],
  aggregation: Aggregation,
  bootstrapIters = 100_000,
): Aggregate {
  const n = values.length;
  if (n === 0) return { value: NaN, stderr: null, n };
  switch (aggregation) {
    case "mean": {
      const xs = values as number[];
      return { value: mean(xs), stderr: meanStderr(xs), n };
    }
    case "perplexity": {
      const xs = values as number[];
      const ppl = (s: number[]) => Math.exp(-mean(s));
      return { value: ppl(xs), stderr: n > 1 ? bootstrapStderr(xs, ppl, bootstrapIters) : null, n };
    }
    case "weighted_perplexity": {
      const [ll, units] = sums(values as [number, number][]);
      return { value: Math.exp(-ll / units), stderr: null, n };
    }
    case "bits_per_byte": {
      const [ll, bytes] = sums(values as [number, number][]);
      return { value: -ll / bytes / Math.LN2, stderr: null, n };
    }
  }
}

/**
 * lm-eval's pooled stderr of a group of means (`pooled_sample_stderr`), from each member's
 * stderr and size.
 */
export function pooledStderr(stderrs: readonly number[], sizes: readonly number[]): number {
  const total = sizes.reduce((a, b) => a + b, 0);
  const pooledVariance = stderrs.reduce(
    (acc, se, i) => acc + (sizes[i] - 1) * se * se * sizes[i],
    0,
  ) / (total - sizes.length);
  return Math.sqrt(pooledVariance / total);
}

function sums(pairs: readonly [number, number][]): [number, number] {
  let a = 0;
  let b = 0;
  for (const [x, y] of pairs) {
    a += x;
    b += y;
  }
  return [a, b];
}
