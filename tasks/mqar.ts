/**
 * Multi-query associative recall (MQAR) in tokens mode, following the zoology protocol:
 *
 * ```
 * inputs  k1 v1 k2 v2 … kN vN │ r r k2 r r r k1 r …   (r: random filler token)
 * labels   ·  ·  ·  ·     ·  · │ · · v2 · · · v1 · …   (prediction after each query key)
 *         ◄── 2·N context ───►  ◄── queries at even offsets 2·gap, gaps ∝ power law ──►
 * ```
 *
 * Keys come from [1, V/2), values from [V/2, V), both without replacement; each key is queried
 * once at offset 2·g of the query region, with the gaps g drawn without replacement from
 * p(g) ∝ a·(g+1)^(a−1). Accuracy is the mean over query positions of
 * argmax(next-token logits) == value, then the mean over examples.
 *
 * @module
 */

import { Rng, seedFrom } from "../core/random.ts";
import type { TokenArgmaxResponse } from "../core/requests.ts";
import { type CellProblem, type GridPlan, planGrid } from "./grid.ts";
import { limitExamples } from "./limit.ts";
import type { Prepared, Task, TaskContext } from "../core/tasks.ts";

/** One MQAR cell's configuration. */
export interface MqarConfig {
  /** Vocabulary size V: keys in [1, V/2), values in [V/2, V). */
  vocabSize: number;
  /** Tokens per example (even). */
  seqLen: number;
  /** Key–value pairs per example. */
  numKvPairs: number;
  /** Examples. */
  numExamples: number;
  /** Power-law exponent of the query gaps. @default {0.01} */
  powerA?: number;
  /** Seed of the generator. */
  seed: number;
}

/** One generated example. */
export interface MqarExample {
  /** Input token ids, `seqLen` long. */
  tokens: number[];
  /** Positions whose next-token prediction is scored. */
  positions: number[];
  /** The value expected at each scored position. */
  values: number[];
}

/** Generates MQAR examples; the same config always gives the same examples. */
export function mqar(config: MqarConfig): MqarExample[] {
  const { vocabSize: V, seqLen, numKvPairs: N, numExamples } = config;
  const a = config.powerA ?? 0.01;
  const context = 2 * N;
  if (seqLen % 2 !== 0) throw new RangeError(`Cannot build MQAR with odd sequence length ${seqLen}`);
  const space = Math.floor((seqLen - context) / 2);
  if (space < N) {
    throw new RangeError(
      `Cannot fit ${N} key-value pairs and their queries in ${seqLen} tokens: need at least ${4 * N}`,
    );
  }
  if (V / 2 - 1 < N) throw new RangeError(`Cannot draw ${N} distinct keys from vocabulary ${V}`);
  const weights = Array.from({ length: space }, (_, g) => a * (g + 1) ** (a - 1));
  const rng = new Rng(config.seed);
  const examples: MqarExample[] = [];
  for (let e = 0; e < numExamples; e++) {
    const keys = rng.sampleRange(1, Math.floor(V / 2), N);
    const values = rng.sampleRange(Math.floor(V / 2), V, N);
    const gaps = rng.weightedSample(weights, N);
    const tokens = new Array<number>(seqLen).fill(-1);
    keys.forEach((k, i) => {
      tokens[2 * i] = k;
      tokens[2 * i + 1] = values[i];
    });
    const positions = gaps.map((g) => context + 2 * g);
    positions.forEach((p, i) => (tokens[p] = keys[i]));
    for (let i = 0; i < seqLen; i++) if (tokens[i] === -1) tokens[i] = rng.int(0, V);
    examples.push({ tokens, positions, values });
  }
  return examples;
}

/** The sweep the embedded default runs: kv pairs × sequence lengths. */
export const MQAR_DEFAULT_GRID = { kvPairs: [4, 8, 16], lengths: [64, 128] } as const;

/** Examples per cell when --limit is not given. */
export const MQAR_DEFAULT_EXAMPLES = 100;

/** Vocabulary of the MQAR tokens, capped by the model's vocabulary. */
export function mqarVocab(ctx: TaskContext): number {
  return Math.min(8192, ctx.vocabSize);
}

interface MqarDoc {
  numKvPairs: number;
  seqLen: number;
  example: MqarExample;
}

/** The grid a run builds: every cell mqar() can generate and the model can take (see `grid.ts`). */
function plan(ctx: TaskContext): GridPlan {
  const vocabSize = mqarVocab(ctx);
  const maxPairs = Math.floor(vocabSize / 2) - 1;
  return planGrid("mqar", ctx, MQAR_DEFAULT_GRID, ({ numKvPairs, length }): CellProblem | null => {
    if (length % 2 !== 0) {
      return { why: `MQAR lengths must be even (got ${length})`, fix: "pass even --lengths", on: "length" };
    }
    if (numKvPairs > maxPairs) {
      return {
        why: `${numKvPairs} distinct keys do not fit the ${vocabSize}-token vocabulary`,
        fix: `pass --kv-pairs up to ${maxPairs}`,
        on: "kvPairs",
      };
    }
    if (length < 4 * numKvPairs) {
      return {
        why: `${numKvPairs} pairs and their queries need at least ${4 * numKvPairs} tokens`,
        fix: `pass --lengths of at least ${4 * numKvPairs} for --kv-pairs ${numKvPairs}, or fewer pairs`,
        on: "both",
      };
    }
    return null;
  });
}

function cells(ctx: TaskContext): { numKvPairs: number; seqLen: number }[] {
  return plan(ctx).cells.map(({ numKvPairs, length }) => ({ numKvPairs, seqLen: length }));
}

function mqarDocs(ctx: TaskContext): Prepared<MqarDoc>[] {
  const vocabSize = mqarVocab(ctx);
  const numExamples = limitExamples(MQAR_DEFAULT_EXAMPLES, ctx.limit);
  const prepared: Prepared<MqarDoc>[] = [];
  for (const cell of cells(ctx)) {
    const seed = seedFrom(`mqar:${vocabSize}:${cell.seqLen}:${cell.numKvPairs}:${ctx.seed}`);
    mqar({ vocabSize, ...cell, numExamples, seed }).forEach((example) => {
      prepared.push({
        doc: { ...cell, example },
        docId: prepared.length,
        requests: [{ kind: "token_argmax", tokens: example.tokens, positions: example.positions }],
        target: example.values.join(" "),
        slices: { numKvPairs: cell.numKvPairs, contextLen: cell.seqLen },
      });
    });
  }
  return prepared;
}

/** The MQAR task over a grid of cells; each sample carries its cell as slice columns. */
export const mqarTask: Task<MqarDoc> = {
  name: "mqar",
  version: 1,
  defaultFewshot: 0,
  metrics: { acc: { aggregation: "mean", higherIsBetter: true } },
  config(ctx) {
    return {
      task: "mqar",
      vocab_size: mqarVocab(ctx),
      cells: cells(ctx),
      num_examples: limitExamples(MQAR_DEFAULT_EXAMPLES, ctx.limit),
      power_a: 0.01,
      seed: ctx.seed,
    };
  },
  check(ctx) {
    return new Promise((resolve) => resolve(plan(ctx).notes));
  },
  prepare(ctx) {
    // A promise even for errors thrown while planning, as the evaluator awaits it.
    return new Promise((resolve) => resolve(mqarDocs(ctx)));
  },
  score(prepared, responses) {
    const { predictions } = responses[0] as TokenArgmaxResponse;
    const values = prepared.doc.example.values;
    const hits = predictions.filter((p, i) => p === values[i]).length;
    return { acc: hits / values.length };
  },
};
