/**
 * RACE-high (lm-eval `race/race.yaml` + `preprocess_race.py`, version 3). A doc is an article
 * with all its questions (`problems`, stored as a Python literal); the prompt answers every
 * question but the last and asks the last:
 *
 * ```
 * Article: {article}\n\n
 * {q without its "  _  ." blank}{answer}\n            (cloze questions, ending "  _  .")
 * Question: {q}\nAnswer: {answer}\n                   (the others)
 * {last question}
 * ```
 *
 * Choices: the last question's four options; gold: its answer letter. Test split; lm-eval has no
 * train split configured here, so shots come from the test split itself (the doc not excluded).
 *
 * @module
 */

import { parsePythonLiteral } from "../data/python_literal.ts";
import type { RowFields } from "../data/rows.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** One question of an article. */
export interface RaceProblem {
  question: string;
  options: string[];
  /** `"A"`–`"D"`. */
  answer: string;
}

/** A RACE doc: an article and its questions. */
export interface RaceDoc {
  article: string;
  /** As stored (a Python literal string). */
  problems: unknown;
  /** Parsed. */
  parsed: RaceProblem[];
}

const LETTERS = ["A", "B", "C", "D"];

/** Checks a RACE row and parses its problems. */
export function parseRace(f: RowFields): RaceDoc {
  const article = f.string("article");
  const raw = f.value("problems");
  let list: unknown;
  try {
    list = typeof raw === "string" ? parsePythonLiteral(raw) : raw;
  } catch (error) {
    f.fail("problems", "a Python literal list", `${raw} (${(error as Error).message})`);
  }
  if (!Array.isArray(list) || list.length === 0) f.fail("problems", "a non-empty list of questions", raw);
  const parsed = list.map((p: unknown, i: number): RaceProblem => {
    const q = p as Partial<RaceProblem>;
    const ok = typeof q?.question === "string" && Array.isArray(q.options) && q.options.length >= 4 &&
      q.options.every((o) => typeof o === "string") && LETTERS.includes(q.answer as string);
    if (!ok) f.fail(`problems[${i}]`, "{question, options: 4 strings, answer: A-D}", p);
    return q as RaceProblem;
  });
  return { ...f.row, article, problems: raw, parsed };
}

function answerText(p: RaceProblem): string {
  return p.options[LETTERS.indexOf(p.answer)];
}

/** lm-eval's `doc_to_text` for RACE. */
export function raceText(d: RaceDoc): string {
  let text = `Article: ${d.article}\n\n`;
  for (const p of d.parsed.slice(0, -1)) {
    text += p.question.endsWith("  _  .")
      ? p.question.slice(0, -5) + answerText(p) + "\n"
      : `Question: ${p.question}\nAnswer: ${answerText(p)}\n`;
  }
  return text + d.parsed[d.parsed.length - 1].question;
}

/** `race`. */
export const race = multipleChoiceTask<RaceDoc>({
  name: "race",
  version: 3,
  dataset: {
    path: "EleutherAI/race",
    name: "high",
    split: "test",
    fewshotSplit: "test",
    excludeEvalDoc: false,
    files: { test: [{ path: "race_high_test.jsonl", format: "jsonl" }] },
  },
  parse: parseRace,
  docToText: raceText,
  docToChoices: (d) => d.parsed[d.parsed.length - 1].options.slice(0, 4),
  docToTarget: (d) => LETTERS.indexOf(d.parsed[d.parsed.length - 1].answer),
  metrics: ["acc"],
  templates: {
    doc_to_text: "!function preprocess_race.doc_to_text",
    doc_to_choice: "!function preprocess_race.doc_to_choice",
    doc_to_target: "!function preprocess_race.doc_to_target",
  },
});
