/**
 * MMLU (lm-eval `mmlu/default`, subject tasks version 1): one task per subject,
 *
 * ```
 * The following are multiple choice questions (with answers) about {subject with spaces}.\n\n
 * {question.strip()}\nA. {c0}\nB. {c1}\nC. {c2}\nD. {c3}\nAnswer:      continuations " A" … " D"
 * ```
 *
 * Test split; shots are the first n of the subject's dev split, in order (`first_n`). The four
 * categories and `mmlu` are groups weighted by size, so `mmlu` is the mean over all questions.
 *
 * @module
 */

import { pyStrip } from "../../core/python_text.ts";
import type { RowFields } from "../data/rows.ts";
import type { Task, TaskGroup } from "../../core/tasks.ts";
import { multipleChoiceTask } from "./_multiple_choice.ts";

/** The subjects of each category, as lm-eval tags them. */
export const MMLU_CATEGORIES: Readonly<
  Record<"stem" | "other" | "social_sciences" | "humanities", readonly string[]>
> = {
  stem: [
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "electrical_engineering",
    "elementary_mathematics",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_mathematics",
    "high_school_physics",
    "high_school_statistics",
    "machine_learning",
  ],
  other: [
    "business_ethics",
    "clinical_knowledge",
    "college_medicine",
    "global_facts",
    "human_aging",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "nutrition",
    "professional_accounting",
    "professional_medicine",
    "virology",
  ],
  social_sciences: [
    "econometrics",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_microeconomics",
    "high_school_psychology",
    "human_sexuality",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
  ],
  humanities: [
    "formal_logic",
    "high_school_european_history",
    "high_school_us_history",
    "high_school_world_history",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "moral_disputes",
    "moral_scenarios",
    "philosophy",
    "prehistory",
    "professional_law",
    "world_religions",
  ],
};

/** All 57 subjects, alphabetically (lm-eval's order of the subject tasks). */
export const MMLU_SUBJECTS: readonly string[] = Object.values(MMLU_CATEGORIES).flat().sort();

/** An MMLU row. */
export interface MmluDoc {
  question: string;
  choices: string[];
  answer: number;
}

/** Checks an MMLU row. */
export function parseMmlu(f: RowFields): MmluDoc {
  const doc = {
    ...f.row,
    question: f.string("question"),
    choices: f.strings("choices"),
    answer: f.int("answer"),
  };
  if (doc.choices.length !== 4) f.fail("choices", "four choices", doc.choices);
  return doc;
}

/** The prompt of one question. */
export function mmluText(d: MmluDoc): string {
  const [a, b, c, e] = d.choices;
  return `${pyStrip(d.question)}\nA. ${a}\nB. ${b}\nC. ${c}\nD. ${e}\nAnswer:`;
}

/** The header lm-eval puts before every prompt of a subject. */
export function mmluDescription(subject: string): string {
  return `The following are multiple choice questions (with answers) about ${
    subject.replaceAll("_", " ")
  }.\n\n`;
}

/** The task of one subject, `mmlu_<subject>`. */
export function mmluTask(subject: string) {
  const file = (
    split: string,
  ) => [{ path: `${subject}/${split}-00000-of-00001.parquet`, format: "parquet" as const }];
  return multipleChoiceTask<MmluDoc>({
    name: `mmlu_${subject}`,
    version: 1,
    dataset: {
      path: "cais/mmlu",
      name: subject,
      split: "test",
      fewshotSplit: "dev",
      excludeEvalDoc: false,
      files: { test: file("test"), dev: file("dev") },
    },
    parse: parseMmlu,
    description: mmluDescription(subject),
    sampler: "first_n",
    docToText: mmluText,
    docToChoices: () => ["A", "B", "C", "D"],
    docToTarget: (d) => d.answer,
    metrics: ["acc"],
    templates: {
      doc_to_text:
        "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
      doc_to_choice: '["A", "B", "C", "D"]',
      doc_to_target: "answer",
    },
  });
}

/** Every subject task by name. */
export const MMLU_TASKS: Readonly<Record<string, Task>> = Object.fromEntries(
  MMLU_SUBJECTS.map((s) => [`mmlu_${s}`, mmluTask(s) as Task]),
);

/**
 * The categories, then `mmlu` over the categories: lm-eval's nesting, so that `mmlu`'s stderr
 * pools the categories' as lm-eval does. Groups must be aggregated in this order.
 */
export const MMLU_GROUPS: readonly TaskGroup[] = [
  ...(["stem", "other", "social_sciences", "humanities"] as const).map((category) => ({
    name: `mmlu_${category}`,
    tasks: MMLU_CATEGORIES[category].map((s) => `mmlu_${s}`),
    metrics: ["acc"],
  })),
  {
    name: "mmlu",
    tasks: ["mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities"],
    metrics: ["acc"],
  },
];
