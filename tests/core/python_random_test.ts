import assert from "node:assert/strict";
import { PyRandom } from "../../core/python_random.ts";

// Every expected value below was printed by CPython 3.11's `random` module, e.g.
// `r = random.Random(1234); [r.getrandbits(32) for _ in range(5)]`.

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("PyRandom.getrandbits() matches CPython for seeds 1234 and 0", () => {
  const a = new PyRandom(1234);
  assert.deepEqual(range(5).map(() => a.getrandbits(32)), [
    4150886329,
    3342196574,
    1892932127,
    501869158,
    32175636,
  ]);
  const b = new PyRandom(0);
  assert.deepEqual(range(3).map(() => b.getrandbits(32)), [3626764237, 1654615998, 3255389356]);
});

Deno.test("PyRandom() seeds from every 32-bit word of a large seed and drops the sign", () => {
  const big = new PyRandom(2n ** 40n + 7n);
  assert.deepEqual(range(3).map(() => big.getrandbits(32)), [2635837658, 3209733218, 3500038837]);
  const negative = new PyRandom(-5);
  assert.deepEqual(range(2).map(() => negative.getrandbits(32)), [2675342405, 1097127993]);
});

Deno.test("PyRandom.getrandbits() stays in step across a twist of the state", () => {
  const r = new PyRandom(1234);
  const xs = range(700).map(() => r.getrandbits(32));
  assert.deepEqual(xs.slice(623, 626), [152069139, 3715477445, 938706668]);
});

Deno.test("PyRandom.random() matches CPython's 53-bit floats", () => {
  const r = new PyRandom(42);
  assert.deepEqual(range(3).map(() => r.random()), [
    0.6394267984578837,
    0.025010755222666936,
    0.27502931836911926,
  ]);
});

Deno.test("PyRandom.randbelow() rejects like CPython's _randbelow_with_getrandbits", () => {
  const r = new PyRandom(7);
  const bounds = [1, 2, 3, 5, 7, 1000, 2 ** 31 - 1, 2 ** 32 - 1];
  assert.deepEqual(bounds.map((n) => r.randbelow(n)), [0, 0, 1, 0, 0, 840, 1150797845, 404285457]);
});

Deno.test("PyRandom.sample() matches CPython in both the pool and the set branch, in sequence", () => {
  const r = new PyRandom(1234);
  assert.deepEqual(r.sample(range(10), 3), [7, 1, 0]); // pool branch: n ≤ 21
  assert.deepEqual(r.sample(range(1000), 5), [92, 932, 965, 961, 826]); // set branch
  assert.deepEqual(r.sample(range(50), 7), [37, 2, 42, 44, 5, 6, 22]); // k > 5 widens the pool branch
  assert.deepEqual(
    r.sample(range(100000), 25),
    [
      31039,
      2284,
      4038,
      2076,
      45362,
      84976,
      81694,
      63471,
      80716,
      60758,
      19471,
      11965,
      23998,
      93508,
      14996,
      1916,
      65940,
      63799,
      32745,
      8462,
      87458,
      70921,
      61066,
      8987,
      78835,
    ],
  );
});

Deno.test("PyRandom.sample() refuses more than the population", () => {
  assert.throws(() => new PyRandom(1).sample([1, 2], 3), RangeError);
});

Deno.test("choices() draws as CPython's random.Random(3).choices(range(10), k=8)", () => {
  assert.deepEqual(new PyRandom(3).choices([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 8), [2, 5, 3, 6, 6, 0, 0, 8]);
});
