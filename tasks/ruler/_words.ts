/**
 * Word lists for the word-based tasks (RULER's keys and common-words lists, text MQAR's keys).
 * kvbench ships none: the words come from `--words-file` (one a line), else from the model's
 * vocabulary, as every token that decodes to three or more lowercase ASCII letters (after at
 * most one leading space), in id order. Vocabulary words differ between tokenizers and include
 * word pieces; pass a words file to compare models with different tokenizers on the same words.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { UserError } from "../../core/errors.ts";
import type { TaskContext, TaskTokenizer } from "../../core/tasks.ts";
import { requireTokenizer } from "./_budget.ts";

/** A word list and where it came from (for the recorded configuration). */
export interface WordList {
  words: string[];
  source: string;
}

const fromVocab = new WeakMap<TaskTokenizer, string[]>();
const fromFile = new Map<string, string[]>();

/** The run's words: the file's when `ctx.wordsFile` is set, else the vocabulary's. */
export function wordList(ctx: TaskContext, task: string): WordList {
  if (ctx.wordsFile) return { words: readWords(ctx.wordsFile), source: ctx.wordsFile };
  return {
    words: vocabularyWords(requireTokenizer(ctx, task), ctx.vocabSize),
    source: "tokenizer-vocabulary",
  };
}

/** Where the words of `ctx` come from, without loading them. */
export function wordSource(ctx: TaskContext): string {
  return ctx.wordsFile ?? "tokenizer-vocabulary";
}

/**
 * The distinct words of a file, one a line, in file order; blank lines and surrounding spaces
 * are ignored.
 *
 * @throws {UserError} when the file is missing or has no words.
 */
export function readWords(path: string): string[] {
  const hit = fromFile.get(path);
  if (hit) return hit;
  if (!existsSync(path)) throw new UserError(`Cannot read the words file ${path} as it does not exist`);
  const words = distinct(readFileSync(path, "utf8").split(/\r?\n/).map((w) => w.trim()).filter(Boolean));
  if (words.length === 0) throw new UserError(`Cannot use the words file ${path} as it has no words`);
  fromFile.set(path, words);
  return words;
}

/** The vocabulary's plain lowercase words, in token id order. */
export function vocabularyWords(tokenizer: TaskTokenizer, vocabSize: number): string[] {
  const hit = fromVocab.get(tokenizer);
  if (hit) return hit;
  const words: string[] = [];
  for (let id = 0; id < vocabSize; id++) {
    const text = tokenizer.decode([id]);
    if (/^ ?[a-z]{3,}$/.test(text)) words.push(text.trimStart());
  }
  const out = distinct(words);
  fromVocab.set(tokenizer, out);
  return out;
}

/**
 * Checks that `words` has at least `needed` entries.
 *
 * @throws {UserError} naming the remedy when it has fewer.
 */
export function requireWords(list: WordList, needed: number, task: string): void {
  if (list.words.length < needed) {
    throw new UserError(
      `Cannot build ${task}: it needs ${needed} distinct words but ${list.source} gives ${list.words.length}; ` +
        `pass --words-file FILE with at least ${needed} words, one a line`,
    );
  }
}

function distinct(words: string[]): string[] {
  return [...new Set(words)];
}
