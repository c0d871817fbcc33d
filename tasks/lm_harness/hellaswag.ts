/**
 * HellaSwag (lm-eval `hellaswag/hellaswag.yaml` + `utils.py`, version 1). Each doc is processed
 * first: `query = preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b))`, choices =
 * the preprocessed endings, gold = `label`. Validation split; shots from train.
 *
 * @module
 */

import { pyCapitalize, pyStrip } from "../../core/python_text.ts";
import type { RowFields } from "../data/rows.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** A HellaSwag row with lm-eval's processed fields added. */
export interface HellaswagDoc {
  activity_label: string;
  ctx_a: string;
  ctx_b: string;
  endings: string[];
  label: number;
  /** Processed question. */
  query: string;
  /** Processed endings. */
  choices: string[];
  /** Gold index. */
  gold: number;
}

/**
 * lm-eval's `preprocess`: strip, `" [title]"` → `". "`, drop `[…]` spans (WikiHow artifacts),
 * then `"  "` → `" "` once over the text.
 */
export function preprocess(text: string): string {
  // Python's "." stops only at "\n"; JS's would also stop at "\r", U+2028 and U+2029.
  return pyStrip(text).replaceAll(" [title]", ". ").replace(/\[[^\n]*?\]/g, "").replaceAll("  ", " ");
}

/** Checks a row and adds lm-eval's processed fields. */
export function parseHellaswag(f: RowFields): HellaswagDoc {
  const activity = f.string("activity_label");
  const ctxA = f.string("ctx_a");
  const ctxB = f.string("ctx_b");
  const endings = f.strings("endings");
  const label = f.int("label");
  return {
    ...f.row,
    activity_label: activity,
    ctx_a: ctxA,
    ctx_b: ctxB,
    endings,
    label,
    query: preprocess(`${activity}: ${ctxA} ${pyCapitalize(ctxB)}`),
    choices: endings.map(preprocess),
    gold: label,
  };
}

const file = (
  split: string,
) => [{ path: `data/${split}-00000-of-00001.parquet`, format: "parquet" as const }];

/** `hellaswag`. */
export const hellaswag = multipleChoiceTask<HellaswagDoc>({
  name: "hellaswag",
  version: 1,
  dataset: {
    path: "Rowan/hellaswag",
    name: null,
    split: "validation",
    fewshotSplit: "train",
    excludeEvalDoc: true,
    files: { validation: file("validation"), train: file("train") },
  },
  parse: parseHellaswag,
  docToText: (d) => d.query,
  docToChoices: (d) => d.choices,
  docToTarget: (d) => d.label,
  metrics: ["acc", "acc_norm"],
  templates: { doc_to_text: "{{query}}", doc_to_choice: "choices", doc_to_target: "{{label}}" },
});
