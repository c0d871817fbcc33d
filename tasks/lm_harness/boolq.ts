/**
 * BoolQ (lm-eval `super_glue/boolq/default.yaml`, version 2):
 * `"{{passage}}\nQuestion: {{question}}?\nAnswer:"`, choices `["no", "yes"]`, gold = `label`.
 * Validation split of `aps/super_glue`'s `boolq`; shots from train.
 *
 * @module
 */

import type { RowFields } from "../data/rows.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** A BoolQ row. */
export interface BoolqDoc {
  question: string;
  passage: string;
  label: number;
}

/** Checks a BoolQ row. */
export function parseBoolq(f: RowFields): BoolqDoc {
  return { ...f.row, question: f.string("question"), passage: f.string("passage"), label: f.int("label") };
}

const file = (
  split: string,
) => [{ path: `boolq/${split}-00000-of-00001.parquet`, format: "parquet" as const }];

/** `boolq`. */
export const boolq = multipleChoiceTask<BoolqDoc>({
  name: "boolq",
  version: 2,
  dataset: {
    path: "aps/super_glue",
    name: "boolq",
    split: "validation",
    fewshotSplit: "train",
    excludeEvalDoc: true,
    files: { validation: file("validation"), train: file("train") },
  },
  parse: parseBoolq,
  docToText: (d) => `${d.passage}\nQuestion: ${d.question}?\nAnswer:`,
  docToChoices: () => ["no", "yes"],
  docToTarget: (d) => d.label,
  metrics: ["acc"],
  templates: {
    doc_to_text: "{{passage}}\nQuestion: {{question}}?\nAnswer:",
    doc_to_choice: '["no", "yes"]',
    doc_to_target: "label",
  },
});
