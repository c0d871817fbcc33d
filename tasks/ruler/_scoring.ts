/**
 * RULER's scoring (`scripts/eval/evaluate.py`, `scripts/eval/synthetic/constants.py`): the
 * prediction is post-processed, then each reference counts if it occurs in the prediction,
 * case-insensitively.
 *
 * - `string_match_all` (niah, vt, cwe, fwe): the fraction of references found, ×100.
 * - `string_match_part` (qa): 100 if any reference is found, else 0.
 *
 * The per-sample values are on RULER's 0–100 scale, so their mean is RULER's task score (before
 * RULER rounds it to two decimals).
 *
 * @module
 */

import { pyStrip } from "../../core/python_text.ts";

/** RULER's two metrics. */
export type RulerMetric = "string_match_all" | "string_match_part";

/** RULER's `postprocess_pred`: strip, control characters to newlines, strip again. */
export function postprocess(prediction: string): string {
  // deno-lint-ignore no-control-regex
  return pyStrip(pyStrip(prediction).replace(/[\x00-\x1f]/g, "\n"));
}

function found(reference: string, prediction: string): boolean {
  return prediction.toLowerCase().includes(reference.toLowerCase());
}

/** The fraction of `references` found in `prediction`. */
function fractionAll(prediction: string, references: readonly string[]): number {
  if (references.length === 0) throw new RangeError("Cannot score a sample without references");
  return references.filter((r) => found(r, prediction)).length / references.length;
}

/** 1 if any of `references` is found in `prediction`, else 0. */
function fractionPart(prediction: string, references: readonly string[]): number {
  if (references.length === 0) throw new RangeError("Cannot score a sample without references");
  return references.some((r) => found(r, prediction)) ? 1 : 0;
}

/** One sample's `string_match_all`: 100 × the fraction of `references` in `prediction`. */
export function stringMatchAll(prediction: string, references: readonly string[]): number {
  return fractionAll(prediction, references) * 100;
}

/** One sample's `string_match_part`: 100 if any of `references` is in `prediction`, else 0. */
export function stringMatchPart(prediction: string, references: readonly string[]): number {
  return fractionPart(prediction, references) * 100;
}

/** A sample's score under `metric`, from the raw generated text. */
export function scoreSample(metric: RulerMetric, generated: string, references: readonly string[]): number {
  const prediction = postprocess(generated);
  return metric === "string_match_all"
    ? stringMatchAll(prediction, references)
    : stringMatchPart(prediction, references);
}

/**
 * RULER's task score over a whole set, as `metric_fn(preds, refs)` computes it: the mean of the
 * per-sample values, rounded to two decimals. Predictions are taken as already post-processed.
 */
export function rulerScore(
  metric: RulerMetric,
  predictions: readonly string[],
  references: readonly (readonly string[])[],
): number {
  if (predictions.length === 0) throw new RangeError("Cannot score an empty set of predictions");
  const one = metric === "string_match_all" ? fractionAll : fractionPart;
  // Summed in order and scaled last, as Python's sum(...) / len(preds) * 100 does.
  const total = predictions.reduce((sum, p, i) => sum + one(p, references[i]), 0);
  return pyRound((total / predictions.length) * 100, 2);
}

/** Python's `round(x, digits)` for the values scores take: halves go to the even neighbour. */
function pyRound(x: number, digits: number): number {
  const scale = 10 ** digits;
  const scaled = x * scale;
  const floor = Math.floor(scaled);
  const diff = scaled - floor;
  const rounded = diff > 0.5 ? floor + 1 : diff < 0.5 ? floor : floor % 2 === 0 ? floor : floor + 1;
  return rounded / scale;
}
