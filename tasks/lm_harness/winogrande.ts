/**
 * Winogrande (lm-eval `winogrande/default.yaml` + `preprocess_winogrande.py`, version 1), scored
 * by partial evaluation: each option fills the blank inside the context, and the shared rest of
 * the sentence after `_` is the continuation:
 *
 * ```
 * sentence  "The cup fell off the shelf because _ was too close to the edge."
 * contexts  "The cup fell off the shelf because the cup"  |  "… because the shelf"
 * target    " was too close to the edge."   (scored once per context; argmax = prediction)
 * ```
 *
 * Validation split of `winogrande_xl`; shots from train.
 *
 * @module
 */

import { pyStrip } from "../../core/python_text.ts";
import type { RowFields } from "../data/rows.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** A Winogrande row. */
export interface WinograndeDoc {
  sentence: string;
  option1: string;
  option2: string;
  /** `"1"` or `"2"`. */
  answer: string;
}

/** Checks a Winogrande row. */
export function parseWinogrande(f: RowFields): WinograndeDoc {
  const doc = {
    ...f.row,
    sentence: f.string("sentence"),
    option1: f.string("option1"),
    option2: f.string("option2"),
    answer: f.string("answer"),
  };
  if (!doc.sentence.includes("_")) f.fail("sentence", 'a sentence with a "_" blank', doc.sentence);
  if (doc.answer !== "1" && doc.answer !== "2") f.fail("answer", '"1" or "2"', doc.answer);
  return doc;
}

/** The contexts: the sentence up to the blank, completed by each option. */
export function winograndeContexts(d: WinograndeDoc): string[] {
  const blank = d.sentence.indexOf("_");
  return [d.option1, d.option2].map((option) => d.sentence.slice(0, blank) + option);
}

/** The shared continuation (before the target delimiter): what follows the blank, stripped. */
export function winograndeTarget(d: WinograndeDoc): string {
  return pyStrip(d.sentence.slice(d.sentence.indexOf("_") + 1));
}

const file = (
  split: string,
) => [{ path: `winogrande_xl/${split}-00000-of-00001.parquet`, format: "parquet" as const }];

/** `winogrande`. */
export const winogrande = multipleChoiceTask<WinograndeDoc>({
  name: "winogrande",
  version: 1,
  dataset: {
    path: "allenai/winogrande",
    name: "winogrande_xl",
    split: "validation",
    fewshotSplit: "train",
    excludeEvalDoc: true,
    files: { validation: file("validation"), train: file("train") },
  },
  parse: parseWinogrande,
  multipleInput: true,
  docToText: (d) => (d.answer === "1" ? 0 : 1),
  docToChoices: winograndeContexts,
  docToTarget: winograndeTarget,
  metrics: ["acc"],
  templates: {
    doc_to_text: "!function preprocess_winogrande.doc_to_text",
    doc_to_choice: "!function preprocess_winogrande.doc_to_choice",
    doc_to_target: "!function preprocess_winogrande.doc_to_target",
  },
});
