/**
 * What `--limit` keeps: a count, or (as in lm-eval) a fraction in (0, 1) of each task's docs.
 *
 * @module
 */

/**
 * How many of a task's `total` docs to evaluate: all without a limit, `ceil(total × limit)` for a
 * fraction (lm-eval's `get_sample_size`), else at most `limit`.
 */
export function limitDocs(total: number, limit: number | null): number {
  if (limit === null) return total;
  if (limit < 1) return Math.ceil(total * limit);
  return Math.min(total, limit);
}

/**
 * Examples per cell of a generated sweep: `defaults` without a limit, that share of it for a
 * fraction, else `limit` itself (a generator can make more than its default).
 */
export function limitExamples(defaults: number, limit: number | null): number {
  if (limit === null) return defaults;
  if (limit < 1) return Math.ceil(defaults * limit);
  return limit;
}
