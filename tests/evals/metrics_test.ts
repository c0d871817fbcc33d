import assert from "node:assert/strict";
import { aggregate, meanStderr, pooledStderr } from "../../evals/metrics.ts";

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
