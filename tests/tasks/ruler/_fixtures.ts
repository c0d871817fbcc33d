/**
 * Shared test material: the fixture tokenizer, a task context, and a small haystack folder of
 * sentences composed here (kvbench ships no corpus).
 */

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TextTokenizer } from "../../../evals/model/tokenizer.ts";
import type { ResultRow } from "../../../results/store.ts";
import { syntheticOptions, type Task, type TaskContext } from "../../../core/tasks.ts";

/** The tiny llama fixture's directory. */
export const LLAMA = fileURLToPath(new URL("../../fixtures/llama", import.meta.url));

/** The fixture's 512-token byte-level BPE. */
export const tokenizer = TextTokenizer.load(LLAMA);

/** A context for the fixture tokenizer; `over` replaces fields. */
export function context(over: Partial<TaskContext> = {}): TaskContext {
  return {
    numFewshot: null,
    seed: 1234,
    limit: 2,
    vocabSize: 512,
    maxLength: 4096,
    ...syntheticOptions({ lengths: [1024] }),
    tokenizer,
    addBos: true,
    ...over,
  };
}

const SUBJECTS = [
  "The river",
  "A small boat",
  "Every model",
  "The old harness",
  "Our latent cache",
  "The calm sky",
];
const VERBS = ["keeps", "reads", "returns", "compares", "follows", "learns"];
const OBJECTS = [
  "the long prompt",
  "each value",
  "a single layer",
  "the next chunk",
  "its memory",
  "two graphics cards",
];
const ENDINGS = [
  "before noon",
  "when it rains",
  "between runs",
  "for every test",
  "after a while",
  "on a slow day",
];

/** Sentence `i` of the made-up essays: cycles through every subject/verb/object/ending mix. */
export function sentence(i: number): string {
  const pick = (list: string[], k: number) => list[Math.floor(i / k) % list.length];
  return `${pick(SUBJECTS, 1)} ${pick(VERBS, 6)} ${pick(OBJECTS, 36)} ${pick(ENDINGS, 216)}.`;
}

/** A folder of three essay files (about 9,000 characters in all); returns its path. */
export function haystackDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-haystack-"));
  for (let f = 0; f < 3; f++) {
    const text = Array.from({ length: 80 }, (_, i) => sentence(f * 80 + i)).join(" ");
    writeFileSync(join(dir, `essay_${f}.txt`), `${text}\n\n`);
  }
  return dir;
}

/** `n` made-up words of three syllables (bakoru, …), distinct, in a fixed order. */
export function madeUpWords(n: number): string[] {
  const syllables: string[] = [];
  for (const c of "bdfgklmnprstvz") for (const v of "aeiou") syllables.push(c + v);
  const words: string[] = [];
  for (let i = 0; words.length < n; i++) {
    const a = syllables[i % syllables.length];
    const b = syllables[Math.floor(i / syllables.length) % syllables.length];
    const c = syllables[(i * 7 + 3) % syllables.length];
    words.push(a + b + c);
  }
  return [...new Set(words)].slice(0, n);
}

/** A words file of `n` made-up words; returns its path. */
export function wordsFile(n = 2000): string {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-words-"));
  const path = join(dir, "words.txt");
  writeFileSync(path, madeUpWords(n).join("\n") + "\n");
  return path;
}

/** SQuAD-shaped rows: two articles of three paragraphs, two questions each, some unanswerable. */
export function squadRows(articles = 2, paragraphs = 3): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (let a = 0; a < articles; a++) {
    for (let p = 0; p < paragraphs; p++) {
      const context = `${sentence(a * 10 + p)} The harbour code of paragraph ${a}-${p} is K${a}${p}X.`;
      rows.push(
        {
          id: `${a}${p}a`,
          title: `Article ${a}`,
          context,
          question: `What code has paragraph ${a}-${p}?`,
          answers: { text: [`K${a}${p}X`, `code K${a}${p}X`], answer_start: [0, 0] },
        },
        {
          id: `${a}${p}b`,
          title: `Article ${a}`,
          context,
          question: `Who owns paragraph ${a}-${p}?`,
          answers: { text: [], answer_start: [] },
        },
      );
    }
  }
  return rows;
}

/** HotpotQA rows as in hotpot_dev_distractor_v1.json: `context` is `[[title, [sentences]]]`. */
export function hotpotRows(questions = 12): Record<string, unknown>[] {
  const paragraph = (q: number, d: number) => {
    const sentences = [`${sentence(q * 3 + d)} `, d === 0 ? `Boat ${q} left first.` : "Nobody came."];
    return [`Harbour ${q}.${d}`, sentences];
  };
  return Array.from({ length: questions }, (_, q) => ({
    _id: `h${q}`,
    question: `Which boat left harbour ${q} first?`,
    answer: `Boat ${q}`,
    context: [0, 1, 2].map((d) => paragraph(q, d)),
  }));
}

/** `task` with `extra` context fields, as the CLI would pass them. */
export function withContext<D>(task: Task<D>, extra: Partial<TaskContext>): Task<D> {
  return {
    ...task,
    config: (ctx) => task.config({ ...ctx, ...extra }),
    ...(task.check ? { check: (ctx: TaskContext) => task.check!({ ...ctx, ...extra }) } : {}),
    prepare: (ctx) => task.prepare({ ...ctx, ...extra }),
  };
}

/** Result rows of one task that carry a cell, as `metric@numKvPairs/contextLen/depth`. */
export function cellKeys(results: readonly ResultRow[], task: string): string[] {
  return results.filter((r) => r.task === task && (r.contextLen != null || r.numKvPairs != null))
    .map((r) => `${r.metric}@${r.numKvPairs ?? "-"}/${r.contextLen ?? "-"}/${r.depth ?? "-"}`).sort();
}
