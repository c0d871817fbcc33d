/**
 * Python's `random.Random` (MT19937 seeded by `init_by_array`) and the parts of it lm-eval
 * touches: `getrandbits`, `_randbelow` and `sample` for the few-shot sampler, `random` and
 * `choices` for the bootstrap. With these, the same seed picks the same few-shot examples and
 * the same bootstrap resamples as lm-eval, draw for draw.
 *
 * @module
 */

const N = 624;
const M = 397;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const MATRIX_A = 0x9908b0df;

/** A Mersenne Twister whose every draw equals CPython's `random.Random(seed)`'s. */
export class PyRandom {
  readonly #mt = new Uint32Array(N);
  #index = N;

  /** Seeds like `random.Random(seed)` with an integer seed (all its bits; the sign is dropped). */
  constructor(seed: number | bigint) {
    if (typeof seed === "number" && !Number.isSafeInteger(seed)) {
      throw new RangeError(`Cannot seed from ${seed}: use an integer (a bigint beyond 2^53)`);
    }
    this.#initByArray(seedKey(BigInt(seed)));
  }

  /** The next 32 random bits (CPython's `genrand_uint32`). */
  nextUint32(): number {
    if (this.#index >= N) this.#twist();
    let y = this.#mt[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.getrandbits(k)` for 0 ≤ k ≤ 32 (enough for any population that fits in memory). */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > 32) throw new RangeError(`Cannot draw ${k} bits: use 0 to 32`);
    if (k === 0) return 0;
    return this.nextUint32() >>> (32 - k);
  }

  /** `random._randbelow(n)`: uniform in [0, n) by rejection on `n.bit_length()` bits. */
  randbelow(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) {
      throw new RangeError(`Cannot draw below ${n}: use an integer from 1 to 2^32 − 1`);
    }
    const k = bitLength(n);
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `random.random()`: 53 random bits as a float in [0, 1). */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `random.choices(population, k=k)` without weights: `k` draws with replacement. */
  choices<T>(population: readonly T[], k: number): T[] {
    const n = population.length;
    const out: T[] = new Array(k);
    for (let i = 0; i < k; i++) out[i] = population[Math.floor(this.random() * n)];
    return out;
  }

  /**
   * `random.sample(population, k)`: `k` distinct positions in selection order. Follows
   * CPython's choice between tracking a shrinking pool (small populations) and rejecting
   * repeats against a set (large ones), since the two consume the stream differently.
   */
  sample<T>(population: readonly T[], k: number): T[] {
    const n = population.length;
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new RangeError(`Cannot sample ${k} of ${n}: sample larger than population or is negative`);
    }
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    const result: T[] = new Array(k);
    if (n <= setsize) {
      const pool = [...population];
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j];
        pool[j] = pool[n - i - 1];
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = population[j];
      }
    }
    return result;
  }

  #initGenrand(s: number): void {
    const mt = this.#mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.#index = N;
  }

  #initByArray(key: readonly number[]): void {
    const mt = this.#mt;
    this.#initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  #twist(): void {
    const mt = this.#mt;
    for (let kk = 0; kk < N; kk++) {
      const y = (mt[kk] & UPPER_MASK) | (mt[(kk + 1) % N] & LOWER_MASK);
      mt[kk] = (mt[(kk + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)) >>> 0;
    }
    this.#index = 0;
  }
}

/** The seed's absolute value as little-endian 32-bit words, at least one (CPython's `random_seed`). */
function seedKey(seed: bigint): number[] {
  let rest = seed < 0n ? -seed : seed;
  const key: number[] = [];
  while (rest > 0n) {
    key.push(Number(rest & 0xffffffffn));
    rest >>= 32n;
  }
  return key.length > 0 ? key : [0];
}

/** `int.bit_length()` for 0 ≤ n < 2^32, exactly (a float log2 rounds up just below powers of two). */
function bitLength(n: number): number {
  return 32 - Math.clz32(n);
}
