import assert from "node:assert/strict";
import { UserError } from "../../../core/errors.ts";
import { createSampler } from "../../../tasks/lm_harness/_sampler.ts";

const pool = ["d0", "d1", "d2", "d3", "d4", "d5"];

Deno.test("default sampler: random.Random(seed).sample(pool, n), advancing over docs", () => {
  // Python: r = random.Random(1234); r.sample(pool, 2) → ['d3', 'd0']; r.sample(pool, 2) → ['d0', 'd5']
  const s = createSampler("default", pool, { seed: 1234, excludeEvalDoc: false });
  assert.deepEqual(s.sample(2, "x"), ["d3", "d0"]);
  assert.deepEqual(s.sample(2, "x"), ["d0", "d5"]);
  assert.deepEqual(s.sample(0, "x"), []);
});

Deno.test("default sampler with exclusion draws n + 1 and drops the evaluated doc", () => {
  // Python: random.Random(1234).sample(pool, 3) → ['d3', 'd0', 'd4']
  assert.deepEqual(createSampler("default", pool, { seed: 1234, excludeEvalDoc: true }).sample(2, "d0"), [
    "d3",
    "d4",
  ]);
  // Not drawn: the first n of the n + 1 are kept.
  assert.deepEqual(createSampler("default", pool, { seed: 1234, excludeEvalDoc: true }).sample(2, "zz"), [
    "d3",
    "d0",
  ]);
});

Deno.test("first_n sampler takes the pool in order, without the doc when excluding", () => {
  assert.deepEqual(createSampler("first_n", pool, { seed: 1, excludeEvalDoc: false }).sample(3, "d1"), [
    "d0",
    "d1",
    "d2",
  ]);
  assert.deepEqual(createSampler("first_n", pool, { seed: 1, excludeEvalDoc: true }).sample(3, "d1"), [
    "d0",
    "d2",
    "d3",
  ]);
});

Deno.test("samplers refuse more shots than the pool holds, as a user error", () => {
  const s = createSampler("default", ["a"], { seed: 1, excludeEvalDoc: true, poolName: "t's train split" });
  assert.throws(
    () => s.sample(1, "b"),
    (e) => e instanceof UserError && /from t's train split/.test(e.message),
  );
  assert.throws(
    () => createSampler("first_n", ["a"], { seed: 1, excludeEvalDoc: false }).sample(2, "b"),
    UserError,
  );
});
