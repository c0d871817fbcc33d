/**
 * ARC-Easy and ARC-Challenge (lm-eval `arc/arc_easy.yaml`, `arc_challenge.yaml`, version 1):
 * `"Question: {{question}}\nAnswer:"`, the choices' texts, gold = index of `answerKey` among the
 * labels. Test split; shots from train.
 *
 * @module
 */

import type { RowFields } from "../data/rows.ts";
import type { HarnessDataset } from "./_dataset.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** An ARC row. */
export interface ArcDoc {
  id: string;
  question: string;
  choices: { text: string[]; label: string[] };
  answerKey: string;
}

/** Checks an ARC row (also OpenBookQA's choice layout). */
export function parseArc(f: RowFields): ArcDoc {
  const doc = {
    ...f.row,
    id: f.string("id"),
    question: f.string("question"),
    choices: { text: f.strings("choices.text"), label: f.strings("choices.label") },
    answerKey: f.string("answerKey"),
  };
  if (!doc.choices.label.includes(doc.answerKey)) {
    f.fail("answerKey", `one of the labels ${JSON.stringify(doc.choices.label)}`, doc.answerKey);
  }
  return doc;
}

function arcDataset(config: "ARC-Easy" | "ARC-Challenge"): HarnessDataset {
  const file = (
    split: string,
  ) => [{ path: `${config}/${split}-00000-of-00001.parquet`, format: "parquet" as const }];
  return {
    path: "allenai/ai2_arc",
    name: config,
    split: "test",
    fewshotSplit: "train",
    excludeEvalDoc: false,
    files: { test: file("test"), train: file("train") },
  };
}

function arcTask(name: string, config: "ARC-Easy" | "ARC-Challenge") {
  return multipleChoiceTask<ArcDoc>({
    name,
    version: 1,
    dataset: arcDataset(config),
    parse: parseArc,
    docToText: (d) => `Question: ${d.question}\nAnswer:`,
    docToChoices: (d) => d.choices.text,
    docToTarget: (d) => d.choices.label.indexOf(d.answerKey),
    metrics: ["acc", "acc_norm"],
    templates: {
      doc_to_text: "Question: {{question}}\nAnswer:",
      doc_to_choice: "{{choices.text}}",
      doc_to_target: "{{choices.label.index(answerKey)}}",
    },
  });
}

/** `arc_easy`. */
export const arcEasy = arcTask("arc_easy", "ARC-Easy");

/** `arc_challenge`. */
export const arcChallenge = arcTask("arc_challenge", "ARC-Challenge");
