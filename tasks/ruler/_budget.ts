/**
 * Sizing a generated input to a token budget with the model's own tokenizer, as RULER does:
 * the largest haystack (in the generator's units: words, sentences, documents, tokens) whose
 * `input tokens + tokens to generate ≤ length`.
 *
 * The input is always re-encoded whole, because merges across the haystack's seams make the
 * token count of a concatenation differ from the sum of its parts.
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";
import type { TaskContext, TaskTokenizer } from "../../core/tasks.ts";

/** A generated input of a known size. */
export interface Sized<T> {
  /** What was built. */
  value: T;
  /** Units it was built from. */
  units: number;
  /** Its measured cost in tokens (input plus tokens to generate). */
  tokens: number;
}

/** Builds an input from `n` units; the same `n` must give the same input. */
export type Build<T> = (n: number) => T;

/**
 * The largest unit count in `[min, max]` whose input costs at most `budget` tokens, or `null` when
 * even `min` units cost more. The cost is assumed to grow (roughly linearly) with the units, so
 * the search interpolates and takes a handful of encodings rather than one per unit.
 */
export function fitUnits<T>(
  build: Build<T>,
  measure: (value: T) => number,
  budget: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): Sized<T> | null {
  const at = (n: number): Sized<T> => {
    const value = build(n);
    return { value, units: n, tokens: measure(value) };
  };
  let lo = at(min);
  if (lo.tokens > budget) return null;
  // Find a size that does not fit: first double (units may cost many tokens each), then step
  // by the slope seen so far with some overshoot.
  let hi: Sized<T> | null = null;
  let slope: number | null = null;
  while (hi === null && lo.units < max) {
    const step = slope === null ? lo.units + 1 : Math.ceil(((budget - lo.tokens) / slope) * 1.2) + 1;
    const guess = Math.min(max, lo.units + Math.max(1, step));
    const next = at(guess);
    if (next.tokens > budget) {
      hi = next;
    } else {
      slope = Math.max((next.tokens - lo.tokens) / (next.units - lo.units), 1e-6);
      lo = next;
    }
  }
  if (hi === null) return lo;
  // Interpolate inside the bracket; fall back to halving when interpolation stalls on one side.
  let bisect = false;
  while (hi.units - lo.units > 1) {
    const span = hi.units - lo.units;
    let mid = bisect
      ? lo.units + Math.floor(span / 2)
      : lo.units + Math.floor(((budget - lo.tokens) * span) / Math.max(hi.tokens - lo.tokens, 1));
    mid = Math.min(Math.max(mid, lo.units + 1), hi.units - 1);
    const next = at(mid);
    const before = span;
    if (next.tokens > budget) hi = next;
    else lo = next;
    bisect = hi.units - lo.units > before / 2;
  }
  return lo;
}

/**
 * The largest unit count near `start` (the size found for the first sample) whose input fits:
 * RULER's per-sample fallback drops units until the sample fits; this also adds units while
 * about one more would fit, so that every sample ends within about a unit of the budget.
 * Steps are sized by `tokensPerUnit`, then the last bracket is halved. Returns `null` when even
 * `min` units do not fit.
 */
export function fitNear<T>(
  build: Build<T>,
  measure: (value: T) => number,
  budget: number,
  start: number,
  min: number,
  tokensPerUnit = 1,
  max = Number.MAX_SAFE_INTEGER,
): Sized<T> | null {
  const at = (n: number): Sized<T> => {
    const value = build(n);
    return { value, units: n, tokens: measure(value) };
  };
  const slope = Math.max(tokensPerUnit, 1e-6);
  let fit = at(Math.min(Math.max(start, min), max));
  let over: Sized<T> | null = null;
  while (fit.tokens > budget) {
    if (fit.units <= min) return null;
    over = fit;
    fit = at(Math.max(min, fit.units - Math.max(1, Math.ceil((fit.tokens - budget) / slope))));
  }
  while (over === null && fit.units < max && budget - fit.tokens >= slope / 2) {
    const next = at(Math.min(max, fit.units + Math.max(1, Math.floor((budget - fit.tokens) / slope))));
    if (next.tokens > budget) over = next;
    else fit = next;
  }
  while (over !== null && over.units - fit.units > 1) {
    const next = at(fit.units + Math.floor((over.units - fit.units) / 2));
    if (next.tokens > budget) over = next;
    else fit = next;
  }
  return fit;
}

/** Counts the tokens the model will be fed for `text`: BOS included when the run adds it. */
export function tokenCounter(ctx: TaskContext, task: string): (text: string) => number {
  const tok = requireTokenizer(ctx, task);
  const bos = ctx.addBos ?? false;
  return (text) => tok.encode(text, bos).length;
}

/**
 * The run's tokenizer.
 *
 * @throws {UserError} when the model was loaded without one.
 */
export function requireTokenizer(ctx: TaskContext, task: string): TaskTokenizer {
  if (!ctx.tokenizer) {
    throw new UserError(
      `Cannot build ${task} without the model's tokenizer, which sizes its inputs: ` +
        `put tokenizer.json and tokenizer_config.json next to the model`,
    );
  }
  return ctx.tokenizer;
}

/**
 * The lengths a sweep runs: those asked for with --lengths, else the `defaults` that fit the
 * model. A default above the max length is left out with a note pushed to `notes`; a length the
 * user asked for is never dropped.
 *
 * @throws {UserError} when a length asked for exceeds the max length, or no default fits.
 */
export function sweepLengths(
  ctx: TaskContext,
  defaults: readonly number[],
  task: string,
  notes: string[] = [],
): number[] {
  const asked = ctx.lengths ?? [...defaults];
  const fitting = asked.filter((l) => l <= ctx.maxLength);
  const over = asked.filter((l) => l > ctx.maxLength);
  if (ctx.lengths !== null && over.length > 0) {
    throw new UserError(
      `Cannot run ${task} at length${over.length > 1 ? "s" : ""} ${
        over.join(", ")
      } as the model's max length ` +
        `is ${ctx.maxLength}: pass --lengths with values up to ${ctx.maxLength}, or raise --max-length`,
    );
  }
  if (fitting.length === 0) {
    throw new UserError(
      `Cannot run ${task} as its default lengths (${asked.join(", ")}) all exceed the model's max length ` +
        `${ctx.maxLength}: pass --lengths with values up to ${ctx.maxLength}, or raise --max-length`,
    );
  }
  if (over.length > 0) {
    notes.push(`leaves out the default lengths ${over.join(", ")} (above the max length ${ctx.maxLength})`);
  }
  return fitting;
}
