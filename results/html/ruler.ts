/**
 * RULER's effective context length for the table under the context figure.
 *
 * @module
 */

import type { ContextScore } from "./figures.ts";

/**
 * The score (0–100) a length must exceed to count as effective: Llama-2-7B's RULER score at 4K,
 * 85.6, the threshold RULER's README and paper (Hsieh et al., 2024) define effective length by.
 * A fixed constant, as in RULER, so that effective lengths compare across reports.
 */
export const RULER_THRESHOLD = 85.6;

/** One model's row of the RULER table for one task. */
export interface RulerRow {
  model: string;
  /** `task/metric`. */
  task: string;
  /** Context length → score on RULER's 0–100 scale. */
  scores: Map<number, number>;
  /** The effective length, null when even the shortest length scores at or below the threshold. */
  effective: number | null;
}

/**
 * The longest length whose score stays above {@linkcode RULER_THRESHOLD}: every measured length up
 * to it scores above, so a length that recovers after a failure at a shorter one doesn't count.
 */
export function effectiveLength(scores: ReadonlyMap<number, number>): number | null {
  let effective: number | null = null;
  for (const length of [...scores.keys()].sort((a, b) => a - b)) {
    if (!(scores.get(length)! > RULER_THRESHOLD)) break;
    effective = length;
  }
  return effective;
}

/** One row per model × task of the context scores (0–1, as the figure draws them), in 0–100. */
export function rulerRows(scores: readonly ContextScore[]): RulerRow[] {
  const rows = new Map<string, RulerRow>();
  for (const s of scores) {
    const key = `${s.task}|${s.model}`;
    const row = rows.get(key) ?? { model: s.model, task: s.task, scores: new Map(), effective: null };
    row.scores.set(s.length, s.score * 100);
    rows.set(key, row);
  }
  return [...rows.values()]
    .map((r) => ({ ...r, effective: effectiveLength(r.scores) }))
    .sort((a, b) => a.task.localeCompare(b.task) || a.model.localeCompare(b.model));
}
