/**
 * Needle in a haystack (gkamradt/LLMTest_NeedleInAHaystack): one fixed needle sentence placed
 * at a sentence boundary at a given depth of an essay haystack, over a grid of context lengths ×
 * depths, with the original's plain-text (Anthropic) prompt. Scored without an LLM judge.
 *
 * ```
 * You are a helpful AI bot … short and direct⏎⏎Human: <context>⏎
 * essay text … end of a sentence.⏎The best thing to do in San Francisco is …⏎ next sentence …
 * ◄──────── depth % of the haystack's tokens ────────►
 * </context>⏎⏎What is the best thing to do in San Francisco? Don't give …⏎⏎
 * Assistant: Here is the most relevant sentence in the context:   ← the model continues
 * ```
 *
 * The haystack is as many essay tokens as fit `prompt tokens + tokens to generate ≤ length`
 * (the original trims to `length − 200` tokens instead). The needle goes after the last
 * sentence end at or before the depth (the original steps back to the last "." token); depth 100
 * appends it. A cell has one sample by default, as in the original; with --limit k, sample j > 0
 * starts the haystack at a seeded sentence of the essays instead of the first.
 *
 * Metrics: `exact_match` (the answer, as normalised words, occurs in the response) and `recall`
 * (the fraction of the answer's words found in the response).
 *
 * @module
 */

import { UserError } from "../core/errors.ts";
import type { GenerateResponse } from "../core/requests.ts";
import { limitExamples } from "./limit.ts";
import { fitNear, fitUnits, requireTokenizer, sweepLengths, tokenCounter } from "./ruler/_budget.ts";
import { fill, sampleRng } from "./ruler/_draw.ts";
import { loadEssays, sentenceEnds } from "./ruler/_haystack.ts";
import type { Prepared, Task, TaskContext, TaskTokenizer } from "../core/tasks.ts";

/** The original needle (`run.py`). */
export const NEEDLE =
  "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n";

/** The original retrieval question. */
export const QUESTION = "What is the best thing to do in San Francisco?";

/** The part of the needle that answers the question. */
export const ANSWER = "eat a sandwich and sit in Dolores Park on a sunny day";

/** The original's plain-text prompt (`providers/Anthropic_prompt.txt`), ending in its prefill. */
export const PROMPT =
  "You are a helpful AI bot that answers questions for a user. Keep your response short and direct\n\nHuman: <context>\n{context}\n</context>\n\n{retrieval_question} Don't give information outside the document or repeat your findings\n\nAssistant: Here is the most relevant sentence in the context:";

/**
 * Default lengths: `round(linspace(1000, 16000, 8))`. The original sweeps 35 lengths × 35
 * depths over the same range; 8 × 11 keeps both ends and the heatmap's shape at 7% of the
 * generations, which matters for 1B models run on ONNX Runtime.
 */
export const NIAH_LENGTHS: readonly number[] = linspace(1000, 16000, 8);

/** Default depths: `round(linspace(0, 100, 11))`, every 10%. */
export const NIAH_DEPTHS: readonly number[] = linspace(0, 100, 11);

/** Tokens the model may generate: the needle is about 25 tokens. */
export const NIAH_MAX_GEN = 64;

/** Stop strings: the prompt's next turn. */
export const NIAH_UNTIL: readonly string[] = ["\n\nHuman:"];

function linspace(start: number, stop: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.round(start + ((stop - start) * i) / (n - 1)));
}

/** What a NIAH sample stores about itself. */
export interface NiahDoc {
  length: number;
  depth: number;
  sample: number;
  /** Haystack tokens (before the needle). */
  haystackTokens: number;
  /** Characters of the haystack before the needle. */
  needleOffset: number;
  /** Prompt tokens plus tokens to generate. */
  tokens: number;
}

/**
 * Puts `needle` into `context` at the last sentence end at or before character `at`, or at the
 * start when there is none; `at ≥ context.length` appends it.
 */
export function placeNeedle(context: string, needle: string, at: number): { text: string; offset: number } {
  let offset = 0;
  if (at >= context.length) {
    offset = context.length;
  } else {
    for (const end of sentenceEnds(context)) {
      if (end > at) break;
      offset = end;
    }
  }
  return { text: context.slice(0, offset) + needle + context.slice(offset), offset };
}

/** The words of `text`, lowercased, punctuation dropped. */
export function normalizeWords(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

/** 1 when the answer's words occur, in order and adjacent, among the response's words. */
export function exactMatch(response: string, answer: string): number {
  const r = ` ${normalizeWords(response).join(" ")} `;
  return r.includes(` ${normalizeWords(answer).join(" ")} `) ? 1 : 0;
}

/** The fraction of the answer's words (with multiplicity) that the response contains. */
export function answerRecall(response: string, answer: string): number {
  const have = new Map<string, number>();
  for (const w of normalizeWords(response)) have.set(w, (have.get(w) ?? 0) + 1);
  const want = normalizeWords(answer);
  let hits = 0;
  for (const w of want) {
    const n = have.get(w) ?? 0;
    if (n > 0) {
      hits++;
      have.set(w, n - 1);
    }
  }
  return want.length === 0 ? 0 : hits / want.length;
}

/** The essays for sample `j`: as they are for j = 0, else rotated to start at a seeded sentence. */
export function haystackFor(essays: string, j: number, seed: number): string {
  if (j === 0) return essays;
  const ends = sentenceEnds(essays);
  if (ends.length === 0) return essays;
  const at = ends[sampleRng("niah", seed, j).int(0, ends.length)];
  return (essays.slice(at) + essays.slice(0, at)).trimStart();
}

function depthsOf(ctx: TaskContext): number[] {
  const depths = ctx.depths ?? [...NIAH_DEPTHS];
  const bad = depths.filter((d) => !(d >= 0 && d <= 100));
  if (bad.length > 0) {
    throw new UserError(`Cannot place a needle at depth ${bad.join(", ")}: depths are 0 to 100`);
  }
  return depths;
}

/** Token ids of `essays` repeated until there are at least `need`. */
function haystackIds(tok: TaskTokenizer, essays: string, need: number): number[] {
  let text = essays;
  let ids = tok.encode(text, false);
  if (ids.length === 0) throw new UserError("Cannot build a haystack from essays with no tokens");
  while (ids.length < need) {
    text = essays.repeat(Math.ceil(need / ids.length) + 1);
    ids = tok.encode(text, false);
  }
  return ids;
}

/** The prepared docs of every cell. */
function niahDocs(ctx: TaskContext): Prepared<NiahDoc>[] {
  const tok = requireTokenizer(ctx, "niah");
  const tokens = tokenCounter(ctx, "niah");
  const lengths = sweepLengths(ctx, NIAH_LENGTHS, "niah");
  const depths = depthsOf(ctx);
  const essays = loadEssays(ctx.haystackDir, "niah");
  const samples = limitExamples(1, ctx.limit);
  const prepared: Prepared<NiahDoc>[] = [];
  const longest = Math.max(...lengths);
  const haystacks = Array.from(
    { length: samples },
    (_, j) => haystackIds(tok, haystackFor(essays, j, ctx.seed), longest),
  );
  for (const length of lengths) {
    for (let j = 0; j < samples; j++) {
      const ids = haystacks[j];
      const cell = (depth: number) => (h: number) => {
        const context = tok.decode(ids.slice(0, h));
        const at = depth >= 100
          ? context.length
          : tok.decode(ids.slice(0, Math.floor((h * depth) / 100))).length;
        const placed = placeNeedle(context, NEEDLE, at);
        return { ...placed, prompt: fill(PROMPT, { context: placed.text, retrieval_question: QUESTION }) };
      };
      const measure = (c: { prompt: string }) => tokens(c.prompt) + NIAH_MAX_GEN;
      // One search per length; each depth then trims the few tokens its seams cost.
      const first = fitUnits(cell(50), measure, length, 0, ids.length);
      if (first === null) throw tooShort(length, measure(cell(50)(0)));
      for (const depth of depths) {
        const sized = fitNear(cell(depth), measure, length, first.units, 0, 1, ids.length)!;
        prepared.push({
          doc: {
            length,
            depth,
            sample: j,
            haystackTokens: sized.units,
            needleOffset: sized.value.offset,
            tokens: sized.tokens,
          },
          docId: prepared.length,
          requests: [{
            kind: "generate_until",
            context: sized.value.prompt,
            until: [...NIAH_UNTIL],
            maxGenToks: NIAH_MAX_GEN,
          }],
          target: ANSWER,
          slices: { contextLen: length, depth },
        });
      }
    }
  }
  return prepared;
}

function tooShort(length: number, smallest: number): UserError {
  return new UserError(
    `Cannot fit niah into ${length} tokens: its prompt and needle alone take ${smallest} ` +
      `with the ${NIAH_MAX_GEN} to generate; pass --lengths with larger values`,
  );
}

/** What niahDocs needs, checked without building a haystack: lengths, depths, essays, room for the prompt. */
function niahCheck(ctx: TaskContext): string[] {
  const tokens = tokenCounter(ctx, "niah");
  const notes: string[] = [];
  const lengths = sweepLengths(ctx, NIAH_LENGTHS, "niah", notes);
  depthsOf(ctx);
  loadEssays(ctx.haystackDir, "niah");
  // An empty haystack: the needle alone in the prompt, as niahDocs measures it.
  const smallest = tokens(fill(PROMPT, { context: NEEDLE, retrieval_question: QUESTION })) + NIAH_MAX_GEN;
  const shortest = Math.min(...lengths);
  if (smallest > shortest) throw tooShort(shortest, smallest);
  return notes;
}

/** The needle-in-a-haystack task over lengths × depths; each sample carries its cell. */
export const niahTask: Task<NiahDoc> = {
  name: "niah",
  version: 1,
  defaultFewshot: 0,
  metrics: {
    exact_match: { aggregation: "mean", higherIsBetter: true },
    recall: { aggregation: "mean", higherIsBetter: true },
  },
  config(ctx) {
    return {
      task: "niah",
      benchmark: "LLMTest_NeedleInAHaystack",
      needle: NEEDLE,
      retrieval_question: QUESTION,
      answer: ANSWER,
      prompt: PROMPT,
      lengths: ctx.lengths ?? NIAH_LENGTHS,
      depths: ctx.depths ?? NIAH_DEPTHS,
      samples_per_cell: limitExamples(1, ctx.limit),
      max_gen_toks: NIAH_MAX_GEN,
      until: NIAH_UNTIL,
      haystack_dir: ctx.haystackDir ?? null,
      seed: ctx.seed,
    };
  },
  check(ctx) {
    return new Promise((resolve) => resolve(niahCheck(ctx)));
  },
  prepare(ctx) {
    // A promise even for errors thrown while building, as the evaluator awaits it.
    return new Promise((resolve) => resolve(niahDocs(ctx)));
  },
  score(_prepared, responses) {
    const { text } = responses[0] as GenerateResponse;
    return { exact_match: exactMatch(text, ANSWER), recall: answerRecall(text, ANSWER) };
  },
};
