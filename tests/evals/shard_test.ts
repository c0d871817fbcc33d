import assert from "node:assert/strict";
import { parseShard, resolveShard, shardItems } from "../../evals/shard.ts";

Deno.test("shards cover every item once, deterministically, with loads balanced by weight", () => {
  const weights = [50, 3, 3, 3, 3, 40, 12, 7, 7, 1, 90, 2];
  for (const count of [1, 2, 3, 5]) {
    const slices = Array.from({ length: count }, (_, index) => shardItems(weights, { index, count }));
    assert.deepEqual(slices.flat().sort((a, b) => a - b), weights.map((_, i) => i), `${count} shards`);
    assert.deepEqual(
      slices,
      Array.from({ length: count }, (_, index) => shardItems(weights, { index, count })),
    );
    const loads = slices.map((s) => s.reduce((n, i) => n + weights[i], 0));
    assert.ok(Math.max(...loads) - Math.min(...loads) <= Math.max(...weights), `${count}: ${loads}`);
  }
  // By weight, not by count: the heaviest item is a shard on its own.
  assert.deepEqual(shardItems([100, 1, 1, 1, 1], { index: 0, count: 2 }), [0]);
});

Deno.test("the shard comes from --shard, a Kubernetes index with --shards, or a Slurm array", () => {
  assert.deepEqual(resolveShard({ shard: "2/3" }, {}), { index: 2, count: 3 });
  assert.deepEqual(resolveShard({ shards: 3 }, { JOB_COMPLETION_INDEX: "1" }), { index: 1, count: 3 });
  assert.deepEqual(
    resolveShard({ shards: 3 }, {
      SLURM_ARRAY_TASK_ID: "5",
      SLURM_ARRAY_TASK_MIN: "4",
      SLURM_ARRAY_TASK_COUNT: "3",
    }),
    { index: 1, count: 3 },
  );
  assert.equal(resolveShard({}, {}), null);
  assert.equal(resolveShard({}, { SLURM_ARRAY_TASK_ID: "2" }), null, "the environment alone does not shard");
  assert.throws(
    () => resolveShard({ shards: 2 }, { SLURM_ARRAY_TASK_ID: "0", SLURM_ARRAY_TASK_COUNT: "4" }),
    /disagrees/,
  );
  assert.throws(() => parseShard("3/3"), /0 ≤ I < N/);
  assert.throws(() => parseShard("1-3"), /I\/N/);
  assert.throws(() => resolveShard({ shards: 2 }, {}), /needs the shard.s index/);
  assert.throws(() => resolveShard({ shard: "0/2", shards: 2 }, {}), /not both/);
});
