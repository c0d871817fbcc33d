/**
 * lm-eval's plain-text prompt assembly (`ConfigurableTask.fewshot_context` with
 * `build_qa_turn`, no chat template):
 *
 * ```
 * description + (q₁ + target_delimiter + a₁ + fewshot_delimiter) + … + q
 * ```
 *
 * The final question gets no delimiter: the continuation carries it (`" " + choice`).
 *
 * @module
 */

/** One few-shot example: its question and the answer text shown after it. */
export interface Shot {
  q: string;
  a: string;
}

/** Delimiters and description of a task's prompts. */
export interface PromptFormat {
  /** Text before everything (MMLU's header), or empty. */
  description: string;
  /** Between a question and its answer. lm-eval's default is `" "`. */
  targetDelimiter: string;
  /** After each few-shot answer. lm-eval's default is `"\n\n"`. */
  fewshotDelimiter: string;
}

/** lm-eval's defaults: no description, `" "` and `"\n\n"`. */
export const DEFAULT_FORMAT: PromptFormat = {
  description: "",
  targetDelimiter: " ",
  fewshotDelimiter: "\n\n",
};

/** The context for question `q` after `shots`. */
export function buildContext(format: PromptFormat, shots: readonly Shot[], q: string): string {
  return format.description + shots.map((s) => shotText(format, s)).join("") + q;
}

/**
 * A shot as text. An empty answer counts as no answer in `build_qa_turn`, which then drops both
 * delimiters along with it.
 */
function shotText(format: PromptFormat, shot: Shot): string {
  if (shot.a === "") return shot.q;
  return shot.q + format.targetDelimiter + shot.a + format.fewshotDelimiter;
}
