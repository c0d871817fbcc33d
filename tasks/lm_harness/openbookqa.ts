/**
 * OpenBookQA (lm-eval `openbookqa/openbookqa.yaml`, version 1): the bare `question_stem` (no
 * "Question:"/"Answer:"), the choices' texts, gold = index of `answerKey.lstrip()` among the
 * labels. Test split of the `main` config; shots from train.
 *
 * @module
 */

import { pyLstrip } from "../../core/python_text.ts";
import type { RowFields } from "../data/rows.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** An OpenBookQA row. */
export interface OpenBookQaDoc {
  id: string;
  question_stem: string;
  choices: { text: string[]; label: string[] };
  answerKey: string;
}

/** Checks an OpenBookQA row. */
export function parseOpenBookQa(f: RowFields): OpenBookQaDoc {
  const doc = {
    ...f.row,
    id: f.string("id"),
    question_stem: f.string("question_stem"),
    choices: { text: f.strings("choices.text"), label: f.strings("choices.label") },
    answerKey: f.string("answerKey"),
  };
  if (!doc.choices.label.includes(pyLstrip(doc.answerKey))) {
    f.fail("answerKey", `one of the labels ${JSON.stringify(doc.choices.label)}`, doc.answerKey);
  }
  return doc;
}

const file = (
  split: string,
) => [{ path: `main/${split}-00000-of-00001.parquet`, format: "parquet" as const }];

/** `openbookqa`. */
export const openbookqa = multipleChoiceTask<OpenBookQaDoc>({
  name: "openbookqa",
  version: 1,
  dataset: {
    path: "allenai/openbookqa",
    name: "main",
    split: "test",
    fewshotSplit: "train",
    excludeEvalDoc: false,
    files: { test: file("test"), train: file("train") },
  },
  parse: parseOpenBookQa,
  docToText: (d) => d.question_stem,
  docToChoices: (d) => d.choices.text,
  docToTarget: (d) => d.choices.label.indexOf(pyLstrip(d.answerKey)),
  metrics: ["acc", "acc_norm"],
  templates: {
    doc_to_text: "question_stem",
    doc_to_choice: "{{choices.text}}",
    doc_to_target: "{{choices.label.index(answerKey.lstrip())}}",
  },
});
