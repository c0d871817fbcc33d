/**
 * What `--tasks list` prints: every task, group and suite with a one-line description.
 *
 * @module
 */

import { SUITES, TASKS } from "./registry.ts";
import type { TaskGroup } from "../core/tasks.ts";

/** One line per task, kept beside the registry so that a task added without one fails its test. */
const TASK_DESCRIPTIONS: Readonly<Record<string, string>> = {
  mqar: "multi-query associative recall on token ids (zoology), swept over --kv-pairs × --lengths; no data",
  mqar_text: "MQAR rendered as words and numbers for pretrained LMs, exact match per query; no data",
  niah: "needle in an essay haystack over --lengths × --depths, exact match and word recall (--haystack-dir)",
  niah_single_1: "RULER: one number needle in repeated noise sentences",
  niah_single_2: "RULER: one number needle in an essay haystack (--haystack-dir)",
  niah_single_3: "RULER: one UUID needle in an essay haystack (--haystack-dir)",
  niah_multikey_1: "RULER: find one of 4 keyed number needles in an essay haystack (--haystack-dir)",
  niah_multikey_2: "RULER: one number needle among a haystack of other needles",
  niah_multikey_3: "RULER: one UUID → UUID needle among a haystack of other needles",
  niah_multivalue: "RULER: recall all 4 values stored under one key in an essay haystack (--haystack-dir)",
  niah_multiquery: "RULER: recall the values of 4 keys in an essay haystack (--haystack-dir)",
  vt: "RULER: variable tracking, every name bound to a value through a 4-hop chain",
  cwe: "RULER: common words extraction, the 10 most frequent words of a long list",
  fwe: "RULER: frequent words extraction, the 3 most frequent coded words (Zipf α = 2)",
  qa_1: "RULER: SQuAD v2 question answering with distractor passages",
  qa_2: "RULER: HotpotQA question answering with distractor passages",
  arc_easy: "lm-eval arc_easy: ARC-Easy grade-school science, 4-way multiple choice (acc, acc_norm)",
  arc_challenge: "lm-eval arc_challenge: ARC-Challenge science questions, multiple choice (acc, acc_norm)",
  hellaswag: "lm-eval hellaswag: commonsense sentence completion, 4 endings (acc, acc_norm)",
  piqa: "lm-eval piqa: physical commonsense, 2 solutions (acc, acc_norm)",
  winogrande: "lm-eval winogrande: pronoun resolution by partial scoring, 2 options (acc)",
  openbookqa: "lm-eval openbookqa: elementary science with an open book, 4-way (acc, acc_norm)",
  boolq: "lm-eval boolq: yes/no questions about a passage (acc)",
  lambada_openai: "lm-eval lambada_openai: predict a passage's last word (perplexity, acc)",
  race: "lm-eval race: reading comprehension of high-school exams (acc)",
  sciq: "lm-eval sciq: science questions with a support passage, 4-way (acc, acc_norm)",
  pubmedqa: "lm-eval pubmedqa: yes/no/maybe questions about PubMed abstracts (acc)",
  wikitext: "lm-eval wikitext: WikiText-2 rolling loglikelihood (word/byte perplexity, bits per byte)",
};

/** The one-line description of task `name`, or null when it has none. */
export function taskDescription(name: string): string | null {
  if (name in TASK_DESCRIPTIONS) return TASK_DESCRIPTIONS[name];
  // 57 subjects share one shape: the subject is the description.
  if (name.startsWith("mmlu_") && name in TASKS) {
    return `lm-eval mmlu: ${name.slice("mmlu_".length).replaceAll("_", " ")}, 4-way multiple choice (acc)`;
  }
  return null;
}

/** Every group a suite declares, once, with the suites that declare it. */
export function allGroups(): { group: TaskGroup; suites: string[] }[] {
  const found = new Map<string, { group: TaskGroup; suites: string[] }>();
  for (const [suite, { groups }] of Object.entries(SUITES)) {
    for (const group of groups ?? []) {
      const entry = found.get(group.name) ?? { group, suites: [] };
      entry.suites.push(suite);
      found.set(group.name, entry);
    }
  }
  return [...found.values()];
}

/** The text `deno task eval --tasks list` prints: tasks, groups and suites, one line each. */
export function renderTaskList(): string {
  const groups = allGroups();
  const width = Math.max(
    ...Object.keys(TASKS).map((n) => n.length),
    ...groups.map((g) => g.group.name.length),
    ...Object.keys(SUITES).map((n) => n.length),
  ) + 2;
  const line = (name: string, text: string) => `  ${name.padEnd(width)}${text}`;
  return [
    `Tasks (${Object.keys(TASKS).length}):`,
    ...Object.keys(TASKS).map((name) => line(name, taskDescription(name) ?? "")),
    "",
    `Groups (${groups.length}; aggregated when a suite that declares them runs):`,
    ...groups.map(({ group, suites }) =>
      line(
        group.name,
        `${group.metrics.join(", ")} over ${group.tasks.length} members, weighted by their sizes ` +
          `(suites: ${suites.join(", ")})`,
      )
    ),
    "",
    `Suites (${Object.keys(SUITES).length}; run with --tasks NAME):`,
    ...Object.entries(SUITES).map(([name, suite]) => line(name, suite.description)),
  ].join("\n");
}
