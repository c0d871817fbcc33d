/**
 * MQAR in text: the examples of {@linkcode mqar} (same generator, same draws) written as words
 * and numbers for a pretrained language model, scored by exact match of each recalled value.
 *
 * ```
 * items   k1 v1 k2 v2 … kN vN │ f  f  k2 (v2) f  f  f  k1 (v1) …     (mqar(): ids in [0, V))
 * text    Remember …⏎ apple: 1432 river: 1090 … ⏎ sky 1022 river: 1090 boat 3310 apple: 1432 …
 *                                                         ▲▲▲▲ scored: every token of the value
 * ```
 *
 * Keys (ids below V/2) are words, values (ids from V/2) are the numbers 1000 + (id − V/2). A
 * key asked again is followed by its value in place of the filler item after it, so one forward
 * pass scores every query: a query counts when the greedy prediction of each of its value's
 * tokens is that token. Filler items are words or numbers without a colon.
 *
 * Segments are tokenized one by one and concatenated, so where each value's tokens sit is
 * known exactly. The number of items is the largest (even) count whose tokens fit the cell's
 * length; a cell where even the pairs and one query each don't fit is never built (`grid.ts`).
 *
 * @module
 */

import { seedFrom } from "../core/random.ts";
import type { TokenArgmaxResponse } from "../core/requests.ts";
import { type CellProblem, type GridPlan, planGrid } from "./grid.ts";
import { limitExamples } from "./limit.ts";
import { mqar, type MqarExample } from "./mqar.ts";
import { fitUnits, requireTokenizer } from "./ruler/_budget.ts";
import { type WordList, wordList, wordSource } from "./ruler/_words.ts";
import type { Prepared, Task, TaskContext, TaskTokenizer } from "../core/tasks.ts";

/** The line before the pairs. */
export const MQAR_TEXT_HEADER =
  "Remember the number after each word. Words come back later, each followed by its number.\n";

/** Default sweep: kv pairs × lengths in tokens. */
export const MQAR_TEXT_GRID = { kvPairs: [8, 32, 128], lengths: [512, 2048, 8192] } as const;

/** Examples per cell when --limit is not given. */
export const MQAR_TEXT_EXAMPLES = 100;

/** Largest half-vocabulary: keeps values at four digits. */
const MAX_HALF = 4096;

/** How item ids become text. */
export interface TextVocab {
  /** V: keys and word fillers below V/2, values and number fillers from V/2. */
  size: number;
  /** The words for ids below V/2. */
  words: readonly string[];
}

/** The text of item `id`. */
export function itemText(vocab: TextVocab, id: number): string {
  const half = vocab.size / 2;
  return id < half ? vocab.words[id] : String(1000 + id - half);
}

/** An example as text segments. */
export interface RenderedExample {
  /** Header, pairs, newline, then one segment per item (a query's value replaces the filler after it). */
  segments: string[];
  /** Index in `segments` of each query's value, in query order. */
  valueSegment: number[];
  /** Each query's value as text, in query order. */
  answers: string[];
}

/** Writes an mqar() example as text segments. */
export function renderExample(vocab: TextVocab, example: MqarExample, numKvPairs: number): RenderedExample {
  const segments = [MQAR_TEXT_HEADER];
  for (let i = 0; i < numKvPairs; i++) {
    segments.push(
      ` ${itemText(vocab, example.tokens[2 * i])}:`,
      ` ${itemText(vocab, example.tokens[2 * i + 1])}`,
    );
  }
  segments.push("\n");
  const query = new Map(example.positions.map((p, q) => [p, q]));
  const valueSegment = new Array<number>(example.positions.length);
  for (let p = 2 * numKvPairs; p < example.tokens.length; p++) {
    const q = query.get(p);
    if (q === undefined) {
      segments.push(` ${itemText(vocab, example.tokens[p])}`);
    } else {
      segments.push(` ${itemText(vocab, example.tokens[p])}:`);
      valueSegment[q] = segments.length;
      segments.push(` ${itemText(vocab, example.values[q])}`);
      p++; // The value takes the filler's place.
    }
  }
  return { segments, valueSegment, answers: example.values.map((v) => itemText(vocab, v)) };
}

/** A rendered, tokenized example: ids, the scored positions, and the tokens expected there. */
export interface TokenizedExample {
  tokens: number[];
  /** Positions whose next-token prediction is scored, all queries' in order. */
  positions: number[];
  /** The expected next tokens at `positions`. */
  expected: number[];
  /** Scored positions per query (value tokens), in query order. */
  perQuery: number[];
  /** The text the segments make. */
  text: string;
  /** Each query's value as text, in query order. */
  answers: string[];
}

/** Tokenizes segments one by one (with a cache), so each value's token span is known. */
export function tokenizeExample(
  encode: (segment: string, first: boolean) => number[],
  rendered: RenderedExample,
): TokenizedExample {
  const starts: number[] = [];
  const tokens: number[] = [];
  rendered.segments.forEach((s, i) => {
    starts.push(tokens.length);
    tokens.push(...encode(s, i === 0));
  });
  const positions: number[] = [];
  const expected: number[] = [];
  const perQuery: number[] = [];
  for (const seg of rendered.valueSegment) {
    const start = starts[seg];
    const end = seg + 1 < starts.length ? starts[seg + 1] : tokens.length;
    for (let t = start; t < end; t++) {
      positions.push(t - 1);
      expected.push(tokens[t]);
    }
    perQuery.push(end - start);
  }
  return {
    tokens,
    positions,
    expected,
    perQuery,
    text: rendered.segments.join(""),
    answers: rendered.answers,
  };
}

/** What a text-MQAR sample stores about itself. */
export interface MqarTextDoc {
  numKvPairs: number;
  length: number;
  /** mqar() items the example was built from. */
  seqLen: number;
  expected: number[];
  perQuery: number[];
}

/** The item vocabulary of a run: V = 2 × min(words, 4096). */
export function textVocab(words: readonly string[]): TextVocab {
  const half = Math.min(words.length, MAX_HALF);
  return { size: 2 * half, words: words.slice(0, half) };
}

function segmentEncoder(tok: TaskTokenizer, addBos: boolean) {
  const cache = new Map<string, number[]>();
  return (segment: string, first: boolean) => {
    if (first) return tok.encode(segment, addBos);
    let ids = cache.get(segment);
    if (!ids) {
      ids = tok.encode(segment, false);
      cache.set(segment, ids);
    }
    return ids;
  };
}

/** What every cell of a run shares. */
interface TextSetup {
  list: WordList;
  vocab: TextVocab;
  encode: (segment: string, first: boolean) => number[];
  numExamples: number;
}

function textSetup(ctx: TaskContext): TextSetup {
  const tok = requireTokenizer(ctx, "mqar_text");
  const list = wordList(ctx, "mqar_text");
  return {
    list,
    vocab: textVocab(list.words),
    encode: segmentEncoder(tok, ctx.addBos ?? false),
    numExamples: limitExamples(MQAR_TEXT_EXAMPLES, ctx.limit),
  };
}

/** Builds example `e` of a cell from a number of item pairs (mqar() needs an even length with room for every query). */
function exampleBuilder(s: TextSetup, ctx: TaskContext, numKvPairs: number, length: number, e: number) {
  const seed = seedFrom(`mqar_text:${s.vocab.size}:${length}:${numKvPairs}:${ctx.seed}:${e}`);
  return (pairs: number) => {
    const example = mqar({ vocabSize: s.vocab.size, seqLen: 2 * pairs, numKvPairs, numExamples: 1, seed })[0];
    return { pairs, ...tokenizeExample(s.encode, renderExample(s.vocab, example, numKvPairs)) };
  };
}

/** The grid a run builds: cells whose every example fits its length at its smallest (see `grid.ts`). */
function plan(ctx: TaskContext, s: TextSetup): GridPlan {
  return planGrid("mqar_text", ctx, MQAR_TEXT_GRID, ({ numKvPairs, length }): CellProblem | null => {
    const words = numKvPairs + 1;
    if (s.vocab.size / 2 < words) {
      return {
        why: `${numKvPairs} kv pairs need ${words} words and ${s.list.source} gives ${s.list.words.length}`,
        fix: `pass --words-file with at least ${words} words, or fewer --kv-pairs`,
        on: "kvPairs",
      };
    }
    // The smallest example: the pairs, then each key asked once (mqar() at 4 × pairs items).
    let smallest = 0;
    for (let e = 0; e < s.numExamples; e++) {
      const x = exampleBuilder(s, ctx, numKvPairs, length, e)(2 * numKvPairs);
      smallest = Math.max(smallest, x.tokens.length);
    }
    if (smallest <= length) return null;
    return {
      why: `its smallest example (${numKvPairs} pairs, each key asked once) takes ${smallest} tokens`,
      fix: `pass --lengths of at least ${smallest} for --kv-pairs ${numKvPairs}, or fewer pairs`,
      on: "both",
    };
  });
}

/** The prepared docs of every cell. */
function mqarTextDocs(ctx: TaskContext): Prepared<MqarTextDoc>[] {
  const s = textSetup(ctx);
  const prepared: Prepared<MqarTextDoc>[] = [];
  for (const { numKvPairs, length } of plan(ctx, s).cells) {
    for (let e = 0; e < s.numExamples; e++) {
      const build = exampleBuilder(s, ctx, numKvPairs, length, e);
      // plan() kept only cells where every example fits at its smallest.
      const sized = fitUnits(build, (x) => x.tokens.length, length, 2 * numKvPairs)!;
      // Each size draws its own fillers, so a slightly larger one may still fit: try a few.
      let x = sized.value;
      for (let pairs = sized.units + 1; pairs <= sized.units + 4; pairs++) {
        const bigger = build(pairs);
        if (bigger.tokens.length <= length) x = bigger;
      }
      prepared.push({
        doc: { numKvPairs, length, seqLen: 2 * x.pairs, expected: x.expected, perQuery: x.perQuery },
        docId: prepared.length,
        requests: [{ kind: "token_argmax", tokens: x.tokens, positions: x.positions }],
        target: x.answers.join(" "),
        slices: { numKvPairs, contextLen: length },
      });
    }
  }
  return prepared;
}

/** Text MQAR over a grid of kv pairs × lengths; each sample carries its cell. */
export const mqarTextTask: Task<MqarTextDoc> = {
  name: "mqar_text",
  version: 1,
  defaultFewshot: 0,
  metrics: { acc: { aggregation: "mean", higherIsBetter: true } },
  config(ctx) {
    return {
      task: "mqar_text",
      header: MQAR_TEXT_HEADER,
      words: wordSource(ctx),
      cells: plan(ctx, textSetup(ctx)).cells,
      num_examples: limitExamples(MQAR_TEXT_EXAMPLES, ctx.limit),
      power_a: 0.01,
      value_text: "1000 + id - V/2",
      seed: ctx.seed,
    };
  },
  check(ctx) {
    return new Promise((resolve) => resolve(plan(ctx, textSetup(ctx)).notes));
  },
  prepare(ctx) {
    // A promise even for errors thrown while building, as the evaluator awaits it.
    return new Promise((resolve) => resolve(mqarTextDocs(ctx)));
  },
  score(prepared, responses) {
    const { predictions } = responses[0] as TokenArgmaxResponse;
    const { expected, perQuery } = prepared.doc;
    let at = 0;
    let hits = 0;
    for (const n of perQuery) {
      let all = true;
      for (let t = at; t < at + n; t++) if (predictions[t] !== expected[t]) all = false;
      if (all) hits++;
      at += n;
    }
    return { acc: hits / perQuery.length };
  },
};
