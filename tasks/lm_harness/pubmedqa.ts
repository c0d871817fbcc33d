/**
 * PubMedQA (lm-eval `pubmedqa/pubmedqa.yaml` + `preprocess_pubmedqa.py`, version 1):
 * `"Abstract: {contexts joined by \n}\nQuestion: {QUESTION}\nAnswer:"`, choices
 * `["yes", "no", "maybe"]`, gold = the choice equal to `final_decision`. Test split of
 * `pubmed_qa_labeled_fold0_source`: the 500 labelled questions of `pqal_test_set.json` inside the
 * repository's `pqal.zip`, in file order (as bigbio's loader yields them); shots from the fold-0
 * train set.
 *
 * @module
 */

import type { RowFields } from "../data/rows.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** A PubMedQA (PQA-L) record. */
export interface PubmedQaDoc {
  QUESTION: string;
  CONTEXTS: string[];
  final_decision: string;
}

/** Checks a PubMedQA record. */
export function parsePubmedQa(f: RowFields): PubmedQaDoc {
  return {
    ...f.row,
    QUESTION: f.string("QUESTION"),
    CONTEXTS: f.strings("CONTEXTS"),
    final_decision: f.string("final_decision"),
  };
}

/** `pubmedqa`. */
export const pubmedqa = multipleChoiceTask<PubmedQaDoc>({
  name: "pubmedqa",
  version: 1,
  dataset: {
    path: "bigbio/pubmed_qa",
    name: "pubmed_qa_labeled_fold0_source",
    split: "test",
    fewshotSplit: "train",
    excludeEvalDoc: false,
    files: {
      test: [{ path: "pqal.zip", format: "json", member: "pqal_test_set.json", keyed: true }],
      train: [{ path: "pqal.zip", format: "json", member: "pqal_fold0/train_set.json", keyed: true }],
    },
  },
  parse: parsePubmedQa,
  docToText: (d) => `Abstract: ${d.CONTEXTS.join("\n")}\nQuestion: ${d.QUESTION}\nAnswer:`,
  docToChoices: () => ["yes", "no", "maybe"],
  docToTarget: (d) => d.final_decision,
  metrics: ["acc"],
  templates: {
    doc_to_text: "!function preprocess_pubmedqa.doc_to_text",
    doc_to_choice: '["yes", "no", "maybe"]',
    doc_to_target: "final_decision",
  },
});
