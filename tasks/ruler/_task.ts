/**
 * What every RULER task shares: a sweep over lengths, samples sized to each length with the
 * model's tokenizer, one greedy generation per sample, and RULER's string-match score.
 *
 * ```
 * per length L:  sample 0 ── binary search ──► n₀ units with tokens(input) + gen ≤ L
 *                sample i ── from n₀, drop units until tokens(input) + gen ≤ L
 * input = task template with the haystack filled in, then the answer prefix (RULER's `base` model template)
 * ```
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";
import type { GenerateResponse } from "../../core/requests.ts";
import { limitExamples } from "../limit.ts";
import type { Prepared, Task, TaskContext } from "../../core/tasks.ts";
import { fitNear, fitUnits, sweepLengths, tokenCounter } from "./_budget.ts";
import { postprocess, type RulerMetric, scoreSample } from "./_scoring.ts";

/** RULER's default lengths (`config_models.sh`). */
export const RULER_LENGTHS: readonly number[] = [4096, 8192, 16384, 32768, 65536, 131072];

/** RULER's samples per task and length (`config_tasks.sh`). */
export const RULER_SAMPLES = 500;

/** A generated sample: the whole model input and the strings the answer must contain. */
export interface Generated {
  input: string;
  outputs: string[];
}

/** A generator set up for one length: builds sample `index` from `n` haystack units. */
export interface LengthGenerator {
  /** Fewest units sample `index` can be built from. */
  minUnits(index: number): number;
  /** Most units there are (a word list's size), if bounded. */
  maxUnits?: number;
  /** Throws the error to report when a length would need more than `maxUnits`. */
  exhausted?: () => void;
  /** Samples there are (QA's questions), if bounded. */
  available?: number;
  /** Builds sample `index` from `n` units; the same arguments always give the same sample. */
  build(n: number, index: number): Generated;
}

/** One RULER task: its template and generator. */
export interface RulerSpec {
  /** Task name (RULER's `synthetic.yaml` key). */
  name: string;
  /** Bumped when anything that changes a score changes. */
  version: number;
  /** RULER's `tokens_to_generate`. */
  tokensToGenerate: number;
  /** RULER's `metric_fn`. */
  metric: RulerMetric;
  /** Configuration to record: template, generator arguments, sources. */
  config(ctx: TaskContext): Record<string, unknown>;
  /** Loads what the generator needs (haystack, words, dataset) and returns it per length. */
  setup(ctx: TaskContext): Promise<(length: number) => LengthGenerator>;
}

/** What a RULER sample stores about itself (the input is stored as the prompt). */
export interface RulerDoc {
  length: number;
  index: number;
  outputs: string[];
  /** Haystack units it was built from. */
  units: number;
  /** Input tokens plus tokens to generate. */
  tokens: number;
}

/** The task for a RULER spec. */
export function rulerTask(spec: RulerSpec): Task<RulerDoc> {
  return {
    name: spec.name,
    version: spec.version,
    defaultFewshot: 0,
    metrics: {
      score: { aggregation: "mean", higherIsBetter: true },
      null_rate: { aggregation: "mean", higherIsBetter: false },
    },
    config(ctx) {
      return {
        task: spec.name,
        benchmark: "RULER",
        model_template: "base",
        tokens_to_generate: spec.tokensToGenerate,
        metric: spec.metric,
        lengths: ctx.lengths ?? RULER_LENGTHS,
        num_samples: limitExamples(RULER_SAMPLES, ctx.limit),
        seed: ctx.seed,
        ...spec.config(ctx),
      };
    },
    async check(ctx) {
      const notes: string[] = [];
      const lengths = sweepLengths(ctx, RULER_LENGTHS, spec.name, notes);
      const tokens = tokenCounter(ctx, spec.name);
      const measure = (g: Generated) => tokens(g.input) + spec.tokensToGenerate;
      // Loads the haystack, word list or dataset: a missing one is reported before any model runs.
      const forLength = await spec.setup(ctx);
      for (const length of lengths) {
        const gen = forLength(length);
        // Dataset samples (QA) differ in their smallest size: check them all where it is tightest.
        const n = length === Math.min(...lengths) && gen.available !== undefined
          ? Math.min(limitExamples(RULER_SAMPLES, ctx.limit), gen.available)
          : 1;
        for (let index = 0; index < n; index++) {
          const smallest = measure(gen.build(gen.minUnits(index), index));
          if (smallest > length) throw tooShort(spec, length, smallest);
        }
        // A word list that all fits the length runs out, as prepare's search would find; a unit
        // takes a token or more, so a list longer than the length never does.
        const most = gen.maxUnits;
        if (most !== undefined && most <= length && measure(gen.build(most, 0)) <= length) gen.exhausted?.();
      }
      return notes;
    },
    async prepare(ctx) {
      const lengths = sweepLengths(ctx, RULER_LENGTHS, spec.name);
      const count = limitExamples(RULER_SAMPLES, ctx.limit);
      const tokens = tokenCounter(ctx, spec.name);
      const measure = (g: Generated) => tokens(g.input) + spec.tokensToGenerate;
      const forLength = await spec.setup(ctx);
      const prepared: Prepared<RulerDoc>[] = [];
      for (const length of lengths) {
        const gen = forLength(length);
        const first = fitUnits((n) => gen.build(n, 0), measure, length, gen.minUnits(0), gen.maxUnits);
        if (first === null) throw tooShort(spec, length, measure(gen.build(gen.minUnits(0), 0)));
        if (first.units === gen.maxUnits) gen.exhausted?.();
        // Tokens per unit, so that a sample that overflows drops about as many units as it needs to.
        const min = gen.minUnits(0);
        const slope = first.units > min
          ? (first.tokens - measure(gen.build(min, 0))) / (first.units - min)
          : 1;
        const n = Math.min(count, gen.available ?? count);
        for (let index = 0; index < n; index++) {
          const sized = index === 0 ? first : fitNear(
            (u) => gen.build(u, index),
            measure,
            length,
            first.units,
            gen.minUnits(index),
            slope,
            gen.maxUnits,
          );
          if (sized === null) {
            throw tooShort(spec, length, measure(gen.build(gen.minUnits(index), index)));
          }
          const { input, outputs } = sized.value;
          prepared.push({
            doc: { length, index, outputs, units: sized.units, tokens: sized.tokens },
            docId: prepared.length,
            requests: [{
              kind: "generate_until",
              context: input,
              until: [],
              maxGenToks: spec.tokensToGenerate,
            }],
            target: JSON.stringify(outputs),
            slices: { contextLen: length },
          });
        }
      }
      return prepared;
    },
    score(prepared, responses) {
      const { text } = responses[0] as GenerateResponse;
      return {
        score: scoreSample(spec.metric, text, prepared.doc.outputs),
        null_rate: postprocess(text).length === 0 ? 1 : 0,
      };
    },
  };
}

function tooShort(spec: RulerSpec, length: number, smallest: number): UserError {
  return new UserError(
    `Cannot fit ${spec.name} into ${length} tokens: its smallest input takes ${smallest} tokens ` +
      `(with the ${spec.tokensToGenerate} to generate); pass --lengths with values of at least ${smallest}`,
  );
}
