/**
 * Haystacks for the long-context tasks:
 *
 * - **essay**: the files of `--haystack-dir` (`*.txt`, or JSON `{"text": …}` as RULER's
 *   `PaulGrahamEssays.json`), sorted by name and concatenated as they are, the way both RULER and
 *   the original needle test build theirs. Repeated when a length needs more text than there is.
 * - **noise**: RULER's five repeated sentences, one copy a line.
 * - **needle**: lines that are themselves needles with other keys (RULER's distractors).
 *
 * Needles go at sentence boundaries (essay) or between lines (noise, needle).
 *
 * @module
 */

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../core/errors.ts";
import { PY_WHITESPACE } from "../../core/python_text.ts";

/** RULER's noise haystack: one line, repeated. */
export const NOISE =
  "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

/** RULER's depth grid for essay needles: `np.round(np.linspace(0, 100, 40))`. */
export const RULER_DEPTHS: readonly number[] = Array.from(
  { length: 40 },
  (_, i) => Math.round((i * 100) / 39),
);

const cache = new Map<string, string>();

/**
 * The essay text of `dir`: its `*.txt` and `*.json` files in name order, concatenated.
 *
 * @throws {UserError} when `dir` is not given, is not a folder, or has no such files.
 */
export function loadEssays(dir: string | null | undefined, task: string): string {
  if (!dir) {
    throw new UserError(
      `Cannot build ${task} as it needs an essay haystack: pass --haystack-dir DIR, where DIR holds ` +
        `the essays as .txt files (e.g. the Paul Graham essays of LLMTest_NeedleInAHaystack) or ` +
        `RULER's PaulGrahamEssays.json`,
    );
  }
  const hit = cache.get(dir);
  if (hit !== undefined) return hit;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(
      `Cannot read the haystack as ${dir} is not a folder: pass --haystack-dir with a folder`,
    );
  }
  const files = readdirSync(dir).filter((f) => /\.(txt|json)$/i.test(f)).sort();
  if (files.length === 0) {
    throw new UserError(
      `Cannot build the haystack as ${dir} has no .txt or .json files: put the essays there`,
    );
  }
  const text = files.map((f) => readEssay(join(dir, f))).join("");
  if (text.trim().length === 0) {
    throw new UserError(`Cannot build the haystack as the files of ${dir} are empty`);
  }
  cache.set(dir, text);
  return text;
}

function readEssay(path: string): string {
  const raw = readFileSync(path, "utf8");
  if (!/\.json$/i.test(path)) return raw;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new UserError(`Cannot read ${path} as JSON: ${(error as Error).message}`);
  }
  const text = (parsed as { text?: unknown } | null)?.text;
  if (typeof text !== "string") {
    throw new UserError(`Cannot read ${path} as a haystack: it should be a JSON object with a "text" string`);
  }
  return text;
}

const WHITESPACE_RUNS = new RegExp(`[${PY_WHITESPACE}]+`, "g");

/** RULER's essay words: `re.sub(r'\s+', " ", essay).split(" ")`. */
export function essayWords(text: string): string[] {
  return text.replace(WHITESPACE_RUNS, " ").split(" ");
}

/** The first `n` words of `words`, cycling through them again when there are fewer. */
export function takeWords(words: readonly string[], n: number): string[] {
  if (n <= words.length) return words.slice(0, n);
  const out: string[] = [];
  while (out.length < n) out.push(...words.slice(0, n - out.length));
  return out;
}

/**
 * Offsets just after each sentence's end in `text`: after `.`, `!` or `?` (and any closing
 * quotes or brackets) that whitespace follows and a lowercase letter does not. A light stand-in
 * for NLTK's Punkt, which RULER uses: it also splits after abbreviations such as "Mr.".
 */
export function sentenceEnds(text: string): number[] {
  const ends: number[] = [];
  for (const m of text.matchAll(/[.!?]["'\u2019\u201d)\]]*(?=\s+[^\sa-z])/g)) {
    ends.push(m.index + m[0].length);
  }
  return ends;
}

/** `text` cut into sentences at {@linkcode sentenceEnds}, each stripped (as `sent_tokenize` returns them). */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (const end of [...sentenceEnds(text), text.length]) {
    const s = text.slice(start, end).trim();
    if (s.length > 0) out.push(s);
    start = end;
  }
  return out;
}

/**
 * RULER's essay insertion: each needle goes before sentence `⌊len · depth / 100⌋`, depths in
 * increasing order, and the pieces are joined with single spaces.
 */
export function insertAtDepths(
  sentences: readonly string[],
  needles: readonly string[],
  depths: readonly number[],
): string {
  const cuts = [0, ...depths.map((d) => Math.floor((sentences.length * d) / 100)).sort((a, b) => a - b)];
  cuts.push(sentences.length);
  const parts: string[] = [];
  for (let i = 1; i < cuts.length; i++) {
    parts.push(sentences.slice(cuts[i - 1], cuts[i]).join(" "));
    if (i - 1 < needles.length) parts.push(needles[i - 1]);
  }
  return parts.join(" ");
}

/**
 * RULER's line insertion (noise and needle haystacks): `items[j]` is inserted before line
 * `indexes[j]` of the original lines, working from the last index so earlier ones stay valid.
 */
export function insertAtLines(
  lines: readonly string[],
  items: readonly string[],
  indexes: readonly number[],
): string[] {
  const out = [...lines];
  const order = indexes.map((index, j) => ({ index, j })).sort((a, b) => b.index - a.index || b.j - a.j);
  for (const { index, j } of order) out.splice(index, 0, items[j]);
  return out;
}
