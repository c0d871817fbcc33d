/**
 * SciQ (lm-eval `sciq/sciq.yaml`, version 1): `"{{support.lstrip()}}\nQuestion: {{question}}\nAnswer:"`,
 * choices `[distractor1, distractor2, distractor3, correct_answer]`, gold always 3. Test split;
 * shots from train.
 *
 * @module
 */

import { pyLstrip } from "../../core/python_text.ts";
import type { RowFields } from "../data/rows.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** A SciQ row. */
export interface SciqDoc {
  question: string;
  distractor1: string;
  distractor2: string;
  distractor3: string;
  correct_answer: string;
  support: string;
}

/** Checks a SciQ row. */
export function parseSciq(f: RowFields): SciqDoc {
  return {
    ...f.row,
    question: f.string("question"),
    distractor1: f.string("distractor1"),
    distractor2: f.string("distractor2"),
    distractor3: f.string("distractor3"),
    correct_answer: f.string("correct_answer"),
    support: f.string("support"),
  };
}

const file = (
  split: string,
) => [{ path: `data/${split}-00000-of-00001.parquet`, format: "parquet" as const }];

/** `sciq`. */
export const sciq = multipleChoiceTask<SciqDoc>({
  name: "sciq",
  version: 1,
  dataset: {
    path: "allenai/sciq",
    name: null,
    split: "test",
    fewshotSplit: "train",
    excludeEvalDoc: false,
    files: { test: file("test"), train: file("train") },
  },
  parse: parseSciq,
  docToText: (d) => `${pyLstrip(d.support)}\nQuestion: ${d.question}\nAnswer:`,
  docToChoices: (d) => [d.distractor1, d.distractor2, d.distractor3, d.correct_answer],
  docToTarget: () => 3,
  metrics: ["acc", "acc_norm"],
  templates: {
    doc_to_text: "{{support.lstrip()}}\nQuestion: {{question}}\nAnswer:",
    doc_to_choice: "{{[distractor1, distractor2, distractor3, correct_answer]}}",
    doc_to_target: "3",
  },
});
