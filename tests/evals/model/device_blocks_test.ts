import assert from "node:assert/strict";
import { BlockPool } from "../../../evals/model/ort/device_blocks.ts";

/** A pool over a fake device whose addresses count up, recording what it allocates and releases. */
function fakePool(limitBytes: number, failAbove = Infinity) {
  let next = 0x1000;
  const live = new Map<bigint, number>();
  const log: string[] = [];
  const pool = new BlockPool(
    (bytes) => {
      const used = [...live.values()].reduce((a, b) => a + b, 0);
      if (used + bytes > failAbove) throw new Error("cudaMalloc failed with CUDA error 2");
      const ptr = Deno.UnsafePointer.create(BigInt(next));
      live.set(BigInt(next), bytes);
      log.push(`alloc ${bytes}`);
      next += bytes;
      return ptr;
    },
    (ptr) => {
      const address = Deno.UnsafePointer.value(ptr) as bigint;
      log.push(`free ${live.get(address)}`);
      live.delete(address);
    },
    limitBytes,
  );
  return { pool, log, live };
}

Deno.test("a freed block serves the next request it fits, the smallest such first", () => {
  const { pool, log } = fakePool(10_000);
  const a = pool.take(1000);
  const b = pool.take(800);
  pool.give(a);
  pool.give(b);
  assert.equal(pool.idleBytes, 1800);
  // 790 fits both; 800 is the smaller.
  const c = pool.take(790);
  assert.equal(c.ptr, b.ptr);
  assert.equal(c.bytes, 800);
  // 700 would waste more than a quarter of the 1000 left: a new block.
  const d = pool.take(700);
  assert.notEqual(d.ptr, a.ptr);
  // Larger than every idle block: a new one.
  const e = pool.take(1001);
  assert.notEqual(e.ptr, a.ptr);
  assert.deepEqual(log, ["alloc 1000", "alloc 800", "alloc 700", "alloc 1001"]);
  assert.equal(pool.idleBytes, 1000);
});

Deno.test("idle blocks stay within the limit, the oldest released first; a larger block is never kept", () => {
  const { pool, log } = fakePool(2500);
  const blocks = [1000, 1000, 1000].map((n) => pool.take(n));
  const big = pool.take(3000);
  log.length = 0;
  blocks.forEach((b) => pool.give(b));
  assert.deepEqual(log, ["free 1000"]);
  assert.equal(pool.idleBytes, 2000);
  pool.give(big);
  assert.deepEqual(log, ["free 1000", "free 3000"]);
  // What stays is the two given last.
  assert.equal(pool.take(1000).ptr, blocks[1].ptr);
  assert.equal(pool.take(1000).ptr, blocks[2].ptr);
});

Deno.test("when the device is full the idle blocks are released and the allocation tried again", () => {
  const { pool, live } = fakePool(10_000, 2000);
  const a = pool.take(1500);
  pool.give(a);
  const b = pool.take(1000); // 1500 idle + 1000 > 2000: released, then allocated
  assert.equal(b.bytes, 1000);
  assert.equal(pool.idleBytes, 0);
  assert.equal(live.size, 1);
  assert.throws(() => pool.take(1500), /CUDA error 2/); // nothing idle left to release
  pool.give(b);
  pool.drain();
  assert.equal(live.size, 0);
  assert.equal(pool.idleBytes, 0);
});
