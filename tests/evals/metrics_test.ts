import assert from "node:assert/strict";
import { aggregate, bootstrapStderr, meanStderr, pooledStderr } from "../../evals/metrics.ts";

Deno.test("aggregate() gives mean and the closed-form sample stderr", () => {
  const xs = [1, 0, 1, 1];
  const agg = aggregate(xs, "mean");
  assert.equal(agg.value, 0.75);
  // statistics.stdev([1,0,1,1]) / sqrt(4) = 0.5 / 2
  assert.ok(Math.abs(agg.stderr! - 0.25) < 1e-12);
  assert.equal(agg.n, 4);
});

Deno.test("aggregate() computes weighted perplexity and bits per byte from pairs", () => {
  const pairs: [number, number][] = [[-10, 5], [-20, 15]];
  assert.ok(Math.abs(aggregate(pairs, "weighted_perplexity").value - Math.exp(30 / 20)) < 1e-12);
  assert.ok(Math.abs(aggregate(pairs, "bits_per_byte").value - 30 / 20 / Math.LN2) < 1e-12);
  assert.equal(aggregate(pairs, "bits_per_byte").stderr, null);
});

Deno.test("aggregate() bootstraps the perplexity stderr reproducibly", () => {
  const lls = [-1, -2, -0.5, -3, -1.5, -0.2];
  const a = aggregate(lls, "perplexity", 2000);
  const b = aggregate(lls, "perplexity", 2000);
  assert.ok(Math.abs(a.value - Math.exp(8.2 / 6)) < 1e-12);
  assert.equal(a.stderr, b.stderr);
  assert.ok(a.stderr! > 0 && a.stderr! < a.value);
});

Deno.test("pooledStderr() follows lm-eval's pooled-variance formula", () => {
  const a = [1, 0, 1, 0];
  const b = [1, 0, 0, 1, 1, 0];
  const pooled = pooledStderr([meanStderr(a), meanStderr(b)], [a.length, b.length]);
  // ((4-1)·se_a²·4 + (6-1)·se_b²·6) / (10 - 2) = (1 + 1.5) / 8; stderr = sqrt(that / 10)
  assert.ok(Math.abs(pooled - Math.sqrt(2.5 / 8 / 10)) < 1e-12);
  // and it stays close to the stderr of the concatenated samples
  assert.ok(Math.abs(pooled - meanStderr([...a, ...b])) < 0.02);
});

Deno.test("bootstrapStderr draws lm-eval's resamples: chunks of 1,000, chunk i from random.Random(i)", () => {
  // Expected values from CPython 3.11: lm-eval's bootstrap procedure (chunk_size = min(1000, iters),
  // Random(i).choices(xs, k=len(xs)), sample stddev of the statistic) on this data.
  const xs = Array.from({ length: 50 }, (_, i) => -((i * 37) % 101) / 17);
  const ppl = (s: number[]) => Math.exp(-s.reduce((a, b) => a + b, 0) / s.length);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.abs(b);
  const full = bootstrapStderr(xs, ppl, 2500);
  assert.ok(close(full, 4.966527600734449), `${full}`);
  const small = bootstrapStderr(xs, ppl, 300);
  assert.ok(close(small, 5.098640422708364), `${small}`);
});
