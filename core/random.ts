/**
 * The seeded random numbers behind every synthetic task (the bootstrap follows lm-eval: see
 * python_random.ts). One small generator (mulberry32 over uint32), so a Python script can reproduce
 * the same draws exactly.
 *
 * @module
 */

/** A seeded uniform [0, 1) generator. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded generator with the draws the synthetic tasks need. */
export class Rng {
  readonly #next: () => number;

  /** Starts a stream from `seed` (a uint32). */
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.#next();
  }

  /** Uniform integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.#next() * (hi - lo));
  }

  /** `k` distinct integers from [lo, hi), in draw order (partial Fisher–Yates). */
  sampleRange(lo: number, hi: number, k: number): number[] {
    const pool = Array.from({ length: hi - lo }, (_, i) => lo + i);
    if (k > pool.length) throw new RangeError(`Cannot draw ${k} distinct values from ${pool.length}`);
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(this.#next() * (pool.length - i));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, k);
  }

  /** `k` distinct indices drawn with probabilities proportional to `weights`, in draw order. */
  weightedSample(weights: readonly number[], k: number): number[] {
    const w = [...weights];
    let total = w.reduce((a, b) => a + b, 0);
    const out: number[] = [];
    for (let n = 0; n < k; n++) {
      let u = this.#next() * total;
      let i = 0;
      while (i < w.length - 1 && (w[i] === 0 || u >= w[i])) {
        u -= w[i];
        i++;
      }
      // Rounding can walk past the last positive weight; fall back to it.
      while (w[i] === 0 && i > 0) i--;
      out.push(i);
      total -= w[i];
      w[i] = 0;
    }
    return out;
  }
}

/** A uint32 seed derived from a string (FNV-1a), to seed per-cell streams reproducibly. */
export function seedFrom(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
