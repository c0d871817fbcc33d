/**
 * How a metric is computed from samples: lm-eval's aggregations and standard errors.
 *
 * @module
 */

import type { Aggregation, SampleValue } from "../tasks/types.ts";
import { mulberry32 } from "./random.ts";

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
 * Bootstrap stderr of `stat` over `iters` resamples with a seeded generator (lm-eval uses
 * 100,000 resamples with Python's Mersenne Twister; ours is a different stream, so the value
 * agrees to Monte-Carlo error, not bit for bit).
 */
export function bootstrapStderr(
  xs: readonly number[],
  stat: (sample: number[]) => number,
  iters = 100_000,
  seed = 1234,
): number {
  const next = mulberry32(seed);
  const sample: number[] = new Array(xs.length);
  const values: number[] = [];
  for (let it = 0; it < iters; it++) {
    for (let i = 0; i < xs.length; i++) sample[i] = xs[Math.floor(next() * xs.length)];
    values.push(stat(sample));
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
      const iters = Math.min(bootstrapIters, Math.max(1, Math.floor(2e8 / n)));
      return { value: ppl(xs), stderr: n > 1 ? bootstrapStderr(xs, ppl, iters) : null, n };
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
