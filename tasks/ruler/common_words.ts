/**
 * RULER's common words extraction (`scripts/data/synthetic/common_words_extraction.py`): a
 * numbered list where ten words repeat often and the rest rarely; the answer is the ten.
 *
 * ```
 * [example: template("1. w 2. w …") + answer prefix + " 1. a 2. b … 10. j"]⏎
 * template("1. apple 2. river 3. apple …") + answer prefix
 * ```
 *
 * Units are distinct words. Below 4096 tokens the repeats drop to 6 (common) and 1 (rare), and
 * the example to 20 words, as RULER does.
 *
 * @module
 */

import type { Rng } from "../../core/random.ts";
import type { TaskContext } from "../../core/tasks.ts";
import { fill, sample, sampleRng, shuffled } from "./_draw.ts";
import type { Generated, LengthGenerator, RulerSpec } from "./_task.ts";
import { requireWords, wordList, wordSource } from "./_words.ts";

/** RULER's common-words template, without the answer prefix. */
export const CWE_TEMPLATE =
  "Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most common words in the above list?";

/** RULER's common-words answer prefix. */
export const CWE_ANSWER_PREFIX = " Answer: The top 10 words that appear most often in the list are:";

/** Tokens RULER lets the model generate for common words. */
export const CWE_TOKENS = 120;

/** One common-words configuration. */
export interface CweParams {
  freqCw: number;
  freqUcw: number;
  numCw: number;
  numFewshot: number;
}

/** `1. a 2. b …`, RULER's numbering. */
export function numbered(words: readonly string[]): string {
  return words.map((w, i) => `${i + 1}. ${w}`).join(" ");
}

/** A list of `numWords` distinct words: the first `common` repeated `commonRepeats` times, the rest fewer. */
export function cweList(
  rng: Rng,
  words: readonly string[],
  numWords: number,
  commonRepeats: number,
  uncommonRepeats: number,
  common: number,
): { context: string; answer: string[] } {
  const chosen = sample(rng, words, numWords);
  const answer = chosen.slice(0, common);
  const rest = chosen.slice(common);
  const list: string[] = [];
  for (let r = 0; r < commonRepeats; r++) list.push(...answer);
  for (let r = 0; r < uncommonRepeats; r++) list.push(...rest);
  return { context: numbered(shuffled(rng, list)), answer };
}

/** Builds a sample of `numWords` distinct words for a task of `length` tokens. */
export function cweSample(
  params: CweParams,
  words: readonly string[],
  numWords: number,
  length: number,
  rng: Rng,
): Generated {
  const short = length < 4096;
  const template = CWE_TEMPLATE + CWE_ANSWER_PREFIX;
  const shots: string[] = [];
  for (let s = 0; s < params.numFewshot; s++) {
    const ex = short
      ? cweList(rng, words, 20, 3, 1, params.numCw)
      : cweList(rng, words, 40, 10, 3, params.numCw);
    shots.push(`${fill(template, { context: ex.context, query: "" })} ${numbered(ex.answer)}`);
  }
  const main = short
    ? cweList(rng, words, numWords, 6, 1, params.numCw)
    : cweList(rng, words, numWords, params.freqCw, params.freqUcw, params.numCw);
  const input = `${shots.join("\n")}\n${fill(template, { context: main.context, query: "" })}`;
  return { input, outputs: main.answer };
}

/** The spec of RULER's `cwe`. */
export function cweSpec(name: string, params: CweParams): RulerSpec {
  return {
    name,
    version: 1,
    tokensToGenerate: CWE_TOKENS,
    metric: "string_match_all",
    config(ctx) {
      return {
        generator: "common_words_extraction",
        template: CWE_TEMPLATE,
        answer_prefix: CWE_ANSWER_PREFIX,
        freq_cw: params.freqCw,
        freq_ucw: params.freqUcw,
        num_cw: params.numCw,
        num_fewshot: params.numFewshot,
        words: wordSource(ctx),
      };
    },
    setup(ctx: TaskContext) {
      const list = wordList(ctx, name);
      requireWords(list, 40, name);
      const words = list.words;
      return Promise.resolve((length: number): LengthGenerator => ({
        minUnits: () => params.numCw,
        maxUnits: words.length,
        exhausted: () => requireWords(list, words.length + 1, name),
        build: (n, index) => cweSample(params, words, n, length, sampleRng(name, length, ctx.seed, index)),
      }));
    },
  };
}
