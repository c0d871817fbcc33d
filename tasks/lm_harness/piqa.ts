/**
 * PIQA (lm-eval `piqa/piqa.yaml`, version 1): `"Question: {{goal}}\nAnswer:"`, choices
 * `[sol1, sol2]`, gold = `label`. Validation split of `baber/piqa` (the parquet mirror lm-eval
 * moved to); shots from train.
 *
 * @module
 */

import type { RowFields } from "../data/rows.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** A PIQA row. */
export interface PiqaDoc {
  goal: string;
  sol1: string;
  sol2: string;
  label: number;
}

/** Checks a PIQA row. */
export function parsePiqa(f: RowFields): PiqaDoc {
  return {
    ...f.row,
    goal: f.string("goal"),
    sol1: f.string("sol1"),
    sol2: f.string("sol2"),
    label: f.int("label"),
  };
}

/** `piqa`. */
export const piqa = multipleChoiceTask<PiqaDoc>({
  name: "piqa",
  version: 1,
  dataset: {
    path: "baber/piqa",
    name: null,
    split: "validation",
    fewshotSplit: "train",
    excludeEvalDoc: true,
    files: {
      validation: [{ path: "piqa_validation.parquet", format: "parquet" }],
      train: [{ path: "piqa_train.parquet", format: "parquet" }],
    },
  },
  parse: parsePiqa,
  docToText: (d) => `Question: ${d.goal}\nAnswer:`,
  docToChoices: (d) => [d.sol1, d.sol2],
  docToTarget: (d) => d.label,
  metrics: ["acc", "acc_norm"],
  templates: {
    doc_to_text: "Question: {{goal}}\nAnswer:",
    doc_to_choice: "{{[sol1, sol2]}}",
    doc_to_target: "label",
  },
});
