/**
 * RULER's 13 tasks (NVIDIA/RULER `scripts/synthetic.yaml`), each a sweep over lengths (default
 * 4K–128K, 500 samples each) scored on RULER's 0–100 scale.
 *
 * | task | generator | haystack | keys → values | needles K/V/Q |
 * |---|---|---|---|---|
 * | niah_single_1 | niah | noise | words → numbers | 1/1/1 |
 * | niah_single_2 | niah | essay | words → numbers | 1/1/1 |
 * | niah_single_3 | niah | essay | words → uuids | 1/1/1 |
 * | niah_multikey_1 | niah | essay | words → numbers | 4/1/1 |
 * | niah_multikey_2 | niah | needle | words → numbers | 1/1/1 |
 * | niah_multikey_3 | niah | needle | uuids → uuids | 1/1/1 |
 * | niah_multivalue | niah | essay | words → numbers | 1/4/1 |
 * | niah_multiquery | niah | essay | words → numbers | 1/1/4 |
 * | vt | variable_tracking | noise | 1 chain, 4 hops | |
 * | cwe | common_words_extraction | | 30/3 repeats, 10 words | |
 * | fwe | freq_words_extraction | | α = 2 | |
 * | qa_1 | qa | SQuAD v2 dev | | |
 * | qa_2 | qa | HotpotQA dev distractor | | |
 *
 * @module
 */

import type { Task } from "../../core/tasks.ts";
import { cweSpec } from "./common_words.ts";
import { fweSpec } from "./freq_words.ts";
import { type NiahParams, niahSpec } from "./niah.ts";
import { qaSpec } from "./qa.ts";
import { type RulerSpec, rulerTask } from "./_task.ts";
import { vtSpec } from "./variable_tracking.ts";

export { RULER_LENGTHS, RULER_SAMPLES } from "./_task.ts";

const single = { numNeedleK: 1, numNeedleV: 1, numNeedleQ: 1 };

function niah(
  typeHaystack: NiahParams["typeHaystack"],
  k: NiahParams["typeNeedleK"],
  v: NiahParams["typeNeedleV"],
) {
  return { typeHaystack, typeNeedleK: k, typeNeedleV: v, ...single };
}

/** The 13 specs, in RULER's order. */
export const RULER_SPECS: readonly RulerSpec[] = [
  niahSpec("niah_single_1", niah("noise", "words", "numbers")),
  niahSpec("niah_single_2", niah("essay", "words", "numbers")),
  niahSpec("niah_single_3", niah("essay", "words", "uuids")),
  niahSpec("niah_multikey_1", { ...niah("essay", "words", "numbers"), numNeedleK: 4 }),
  niahSpec("niah_multikey_2", niah("needle", "words", "numbers")),
  niahSpec("niah_multikey_3", niah("needle", "uuids", "uuids")),
  niahSpec("niah_multivalue", { ...niah("essay", "words", "numbers"), numNeedleV: 4 }),
  niahSpec("niah_multiquery", { ...niah("essay", "words", "numbers"), numNeedleQ: 4 }),
  vtSpec("vt", { numChains: 1, numHops: 4 }),
  cweSpec("cwe", { freqCw: 30, freqUcw: 3, numCw: 10, numFewshot: 1 }),
  fweSpec("fwe", { alpha: 2.0, codedWordLen: 6 }),
  qaSpec("qa_1", "squad"),
  qaSpec("qa_2", "hotpotqa"),
];

/** The 13 tasks by name. */
export const RULER_TASKS: Readonly<Record<string, Task>> = Object.fromEntries(
  RULER_SPECS.map((spec) => [spec.name, rulerTask(spec) as Task]),
);
