/**
 * RULER's needle-in-a-haystack generator (`scripts/data/synthetic/niah.py`): needles
 * "One of the special magic {values} for {key} is: {value}." hidden in a haystack, then a
 * question for the values of one or more keys.
 *
 * ```
 * essay:   s₁ s₂ … NEEDLE sᵢ … NEEDLE … sₙ        (needles before sentence ⌊n·depth/100⌋,
 *                                                  depths drawn from RULER's 40-point grid)
 * noise:   NOISE⏎NOISE⏎NEEDLE⏎NOISE⏎…           (needles between random lines)
 * needle:  D⏎D⏎NEEDLE⏎D⏎…                        (D: needles with other keys and values)
 * ```
 *
 * Units are essay words, or lines for the noise and needle haystacks.
 *
 * @module
 */

import type { Rng } from "../../core/random.ts";
import type { TaskContext } from "../../core/tasks.ts";
import { choice, fill, randomNumber, randomUuid, sample, sampleRng, shuffled } from "./_draw.ts";
import {
  essayWords,
  insertAtDepths,
  insertAtLines,
  loadEssays,
  NOISE,
  RULER_DEPTHS,
  splitSentences,
  takeWords,
} from "./_haystack.ts";
import type { Generated, LengthGenerator, RulerSpec } from "./_task.ts";
import { requireWords, type WordList, wordList, wordSource } from "./_words.ts";

/** RULER's niah template (`constants.py`), without the answer prefix. */
export const NIAH_TEMPLATE =
  "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic {type_needle_v} for {query} mentioned in the provided text?";

/** RULER's niah answer prefix, appended to the template. */
export const NIAH_ANSWER_PREFIX =
  " The special magic {type_needle_v} for {query} mentioned in the provided text are";

/** RULER's needle. */
export const NIAH_NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}.";

/** Tokens RULER lets the model generate for niah. */
export const NIAH_TOKENS = 128;

/** What keys and values are made of. */
export type NeedleType = "words" | "numbers" | "uuids";

/** One niah configuration (`synthetic.yaml`). */
export interface NiahParams {
  typeHaystack: "essay" | "noise" | "needle";
  typeNeedleK: NeedleType;
  typeNeedleV: NeedleType;
  numNeedleK: number;
  numNeedleV: number;
  numNeedleQ: number;
}

/** What a niah sample is drawn from. */
export interface NiahSource {
  /** Essay words (essay haystack only). */
  essay?: readonly string[];
  /** Words for `words` keys and values. */
  words?: readonly string[];
}

/**
 * The template with the answer prefix, singularised as RULER does when one value is asked for
 * ("Some" → "A", "are all" → "is", "are" → "is", "answers" → "answer"). Returns it with the
 * value type to print (plural, or singular alongside the singular template).
 */
export function niahTemplate(params: NiahParams): { template: string; typeNeedleV: string } {
  let template = NIAH_TEMPLATE + NIAH_ANSWER_PREFIX;
  let typeNeedleV: string = params.typeNeedleV;
  if (params.numNeedleQ * params.numNeedleV === 1) {
    template = template.replaceAll("Some", "A").replaceAll("are all", "is").replaceAll("are", "is")
      .replaceAll("answers", "answer");
    typeNeedleV = typeNeedleV.slice(0, -1);
  }
  return { template, typeNeedleV };
}

function draw(rng: Rng, type: NeedleType, source: NiahSource): string {
  switch (type) {
    case "numbers":
      return randomNumber(rng, 7);
    case "uuids":
      return randomUuid(rng);
    case "words":
      // RULER's words are adjective-noun pairs from wonderwords; ours are two words of the list.
      return `${choice(rng, source.words!)}-${choice(rng, source.words!)}`;
  }
}

/** A draw of `type` that is none of `taken` (keys must not repeat, or a question has two answers). */
function drawNew(rng: Rng, type: NeedleType, source: NiahSource, taken: ReadonlySet<string>): string {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const x = draw(rng, type, source);
    if (!taken.has(x)) return x;
  }
  throw new RangeError(
    `Cannot draw a ${type} key unlike the ${taken.size} already drawn: the list is too small`,
  );
}

/** The number of needles a sample holds. */
export function needleCount(params: NiahParams): number {
  return Math.max(params.numNeedleK, params.numNeedleQ) * params.numNeedleV;
}

/**
 * Builds one sample from `n` units with `rng`. Keys and values are drawn before the haystack,
 * so the same seed gives the same needles at every haystack size.
 */
export function niahSample(params: NiahParams, source: NiahSource, n: number, rng: Rng): Generated {
  const numK = Math.max(params.numNeedleK, params.numNeedleQ);
  const keys: string[] = [];
  const values: string[][] = [];
  let needles: string[] = [];
  const taken = new Set<string>();
  for (let k = 0; k < numK; k++) {
    const key = drawNew(rng, params.typeNeedleK, source, taken);
    taken.add(key);
    keys.push(key);
    const value: string[] = [];
    for (let v = 0; v < params.numNeedleV; v++) {
      value.push(draw(rng, params.typeNeedleV, source));
      needles.push(fill(NIAH_NEEDLE, { type_needle_v: params.typeNeedleV, key, value: value[v] }));
    }
    values.push(value);
  }
  needles = shuffled(rng, needles);
  let context: string;
  if (params.typeHaystack === "essay") {
    const text = takeWords(source.essay!, n).join(" ");
    context = insertAtDepths(splitSentences(text.trim()), needles, sample(rng, RULER_DEPTHS, needles.length));
  } else {
    const lines = params.typeHaystack === "noise" ? Array<string>(n).fill(NOISE) : Array.from(
      { length: n },
      () =>
        fill(NIAH_NEEDLE, {
          type_needle_v: params.typeNeedleV,
          key: drawNew(rng, params.typeNeedleK, source, taken),
          value: draw(rng, params.typeNeedleV, source),
        }),
    );
    const indexes = rng.sampleRange(0, n, needles.length);
    context = insertAtLines(lines, needles, indexes).join("\n");
  }
  const asked = rng.sampleRange(0, numK, params.numNeedleQ);
  const queries = asked.map((i) => keys[i]);
  const outputs = asked.flatMap((i) => values[i]);
  const query = queries.length > 1
    ? `${queries.slice(0, -1).join(", ")}, and ${queries[queries.length - 1]}`
    : queries[0];
  const { template, typeNeedleV } = niahTemplate(params);
  return { input: fill(template, { type_needle_v: typeNeedleV, context, query }), outputs };
}

/** The spec of a RULER niah task. */
export function niahSpec(name: string, params: NiahParams): RulerSpec {
  const usesWords = params.typeNeedleK === "words" || params.typeNeedleV === "words";
  return {
    name,
    version: 1,
    tokensToGenerate: NIAH_TOKENS,
    metric: "string_match_all",
    config(ctx) {
      return {
        generator: "niah",
        template: NIAH_TEMPLATE,
        answer_prefix: NIAH_ANSWER_PREFIX,
        needle: NIAH_NEEDLE,
        type_haystack: params.typeHaystack,
        type_needle_k: params.typeNeedleK,
        type_needle_v: params.typeNeedleV,
        num_needle_k: params.numNeedleK,
        num_needle_v: params.numNeedleV,
        num_needle_q: params.numNeedleQ,
        ...(params.typeHaystack === "essay" ? { haystack_dir: ctx.haystackDir ?? null } : {}),
        ...(usesWords ? { words: wordSource(ctx) } : {}),
      };
    },
    setup(ctx: TaskContext) {
      const source: NiahSource = {};
      if (params.typeHaystack === "essay") source.essay = essayWords(loadEssays(ctx.haystackDir, name));
      if (usesWords) {
        const list: WordList = wordList(ctx, name);
        requireWords(list, 2, name);
        source.words = list.words;
      }
      const needles = needleCount(params);
      return Promise.resolve((length: number): LengthGenerator => ({
        minUnits: () => (params.typeHaystack === "essay" ? 1 : needles),
        build: (n, index) => niahSample(params, source, n, sampleRng(name, length, ctx.seed, index)),
      }));
    },
  };
}
