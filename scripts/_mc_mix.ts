/**
 * The multiple-choice-like scoring mix of `deno task bench`: `contexts` seeded random contexts of
 * 128–384 tokens, each with 4 continuations of 1–8 tokens. scripts/bench_torch.py draws the same
 * ids from the same mulberry32 stream (seed 7 for the timed mix, 8 for the first pass before it),
 * so both sides score exactly the same requests.
 *
 * @module
 */

import { Rng } from "../core/random.ts";
import type { TokenPair } from "../core/requests.ts";

/** The seed of the timed mix (bench's `score-mc`); its first pass (`score-mc-first`) uses the next one. */
export const MC_SEED = 7;

/** The mix's requests, and its context tokens counted once per context. */
export function mcMix(
  contexts: number,
  vocabSize: number,
  seed = MC_SEED,
): { pairs: TokenPair[]; contextTokens: number } {
  const rng = new Rng(seed);
  const pairs: TokenPair[] = [];
  let contextTokens = 0;
  for (let i = 0; i < contexts; i++) {
    const context = Array.from({ length: rng.int(128, 385) }, () => rng.int(3, vocabSize));
    contextTokens += context.length;
    for (let c = 0; c < 4; c++) {
      pairs.push({
        context,
        continuation: Array.from({ length: rng.int(1, 9) }, () => rng.int(3, vocabSize)),
      });
    }
  }
  return { pairs, contextTokens };
}
