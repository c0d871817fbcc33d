/**
 * RULER's frequent words extraction (`scripts/data/synthetic/freq_words_extraction.py`): coded
 * six-letter words with Zipf counts `⌊n · k^−α / ζ(α)⌋` for rank k, shuffled together; the most
 * frequent is replaced by "..." (noise), and the answer is ranks 2 to 4.
 *
 * ```
 * template("qwerty ... zxcvbn ... ... asdfgh qwerty …") + answer prefix
 * ```
 *
 * Units are words of the text (n); the coded vocabulary has `(length − 50) / 50` words.
 *
 * @module
 */

import type { Rng } from "../../core/random.ts";
import type { TaskContext } from "../../core/tasks.ts";
import { distinctStrings, fill, sampleRng, shuffled } from "./_draw.ts";
import type { Generated, LengthGenerator, RulerSpec } from "./_task.ts";

/** RULER's frequent-words template, without the answer prefix. */
export const FWE_TEMPLATE =
  "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?";

/** RULER's frequent-words answer prefix. */
export const FWE_ANSWER_PREFIX =
  " Answer: According to the coded text above, the three most frequently appeared words are:";

/** Tokens RULER lets the model generate for frequent words. */
export const FWE_TOKENS = 50;

/** One frequent-words configuration. */
export interface FweParams {
  alpha: number;
  codedWordLen: number;
}

/** The Riemann zeta function for s > 1 (scipy's `zeta(s)`), by Euler–Maclaurin summation. */
export function zeta(s: number): number {
  if (!(s > 1)) throw new RangeError(`Cannot compute zeta(${s}): it needs s > 1`);
  const n = 100;
  let sum = 0;
  for (let k = 1; k < n; k++) sum += k ** -s;
  return sum + n ** (1 - s) / (s - 1) + n ** -s / 2 + (s * n ** (-s - 1)) / 12 -
    (s * (s + 1) * (s + 2) * n ** (-s - 3)) / 720;
}

/** RULER's coded vocabulary size for a length: `(length − tokens to generate) // 50`. */
export function fweVocabSize(length: number): number {
  return Math.floor((length - FWE_TOKENS) / 50);
}

/** Counts per rank: `⌊n · k^−α / ζ(α)⌋`, truncated as numpy's `astype(int)`. */
export function zipfCounts(numWords: number, vocabSize: number, alpha: number): number[] {
  const z = zeta(alpha);
  return Array.from({ length: vocabSize }, (_, i) => Math.trunc((numWords * (i + 1) ** -alpha) / z));
}

/** Builds a sample of `numWords` coded words over a vocabulary of `vocabSize`. */
export function fweSample(params: FweParams, numWords: number, vocabSize: number, rng: Rng): Generated {
  const vocab = shuffled(
    rng,
    distinctStrings(rng, vocabSize, params.codedWordLen, "abcdefghijklmnopqrstuvwxyz").sort(),
  );
  vocab[0] = "...";
  const counts = zipfCounts(numWords, vocabSize, params.alpha);
  const words: string[] = [];
  vocab.forEach((w, i) => {
    for (let c = 0; c < counts[i]; c++) words.push(w);
  });
  const input = fill(FWE_TEMPLATE + FWE_ANSWER_PREFIX, {
    context: shuffled(rng, words).join(" "),
    query: "",
  });
  return { input, outputs: vocab.slice(1, 4) };
}

/** Fewest words for which rank 4 (the last answer) occurs at least once. */
export function fweMinWords(alpha: number): number {
  let n = 1;
  while (zipfCounts(n, 4, alpha)[3] < 1) n++;
  return n;
}

/** The spec of RULER's `fwe`. */
export function fweSpec(name: string, params: FweParams): RulerSpec {
  return {
    name,
    version: 1,
    tokensToGenerate: FWE_TOKENS,
    metric: "string_match_all",
    config() {
      return {
        generator: "freq_words_extraction",
        template: FWE_TEMPLATE,
        answer_prefix: FWE_ANSWER_PREFIX,
        alpha: params.alpha,
        coded_wordlen: params.codedWordLen,
        vocab_size: "(length - tokens_to_generate) // 50",
      };
    },
    setup(ctx: TaskContext) {
      const min = fweMinWords(params.alpha);
      return Promise.resolve((length: number): LengthGenerator => {
        const vocabSize = Math.max(fweVocabSize(length), 4);
        return {
          minUnits: () => min,
          build: (n, index) => fweSample(params, n, vocabSize, sampleRng(name, length, ctx.seed, index)),
        };
      });
    },
  };
}
