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
 * With `--system-instruction` or a chat template ({@linkcode Prompting}) the same pieces become
 * lm-eval's messages: a system turn (instruction and description), a user turn per question and
 * an assistant turn per few-shot answer, rendered as plain text or through the template.
 *
 * @module
 */

import { PY_WHITESPACE } from "../../core/python_text.ts";
import { type ChatTurn, PLAIN, type Prompting } from "../../core/prompting.ts";

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

/** The context for question `q` after `shots`, plain or through a chat template. */
export function buildContext(
  format: PromptFormat,
  shots: readonly Shot[],
  q: string,
  prompting: Prompting = PLAIN,
): string {
  if (prompting.systemInstruction === null && prompting.chat === null) {
    return format.description + shots.map((s) => shotText(format, s)).join("") + q;
  }
  const messages: Message[] = [];
  const system = maybeDelimit(prompting.systemInstruction, format.description, format.fewshotDelimiter);
  if (system) messages.push({ role: "system", content: system, delimiter: "" });
  for (const shot of shots) {
    // build_qa_turn: an empty answer counts as none, and then neither delimiter is kept.
    const answered = shot.a !== "";
    messages.push({ role: "user", content: shot.q, delimiter: answered ? format.targetDelimiter : "" });
    if (answered) messages.push({ role: "assistant", content: shot.a, delimiter: format.fewshotDelimiter });
  }
  messages.push({ role: "user", content: q, delimiter: "" });
  if (prompting.chat === null) return messages.map(toText).join("");
  // No kvbench task has a gen_prefix, so lm-eval always asks for the generation prompt.
  return prompting.chat(prompting.fewshotAsMultiturn ? messages.map(toTurn) : singleTurn(messages), true);
}

/**
 * The delimiter before a continuation (a choice) of a multiple-choice request: lm-eval drops it
 * under a chat template, whose generation prompt already ends the context (no task has a
 * `gen_prefix`, which would keep it).
 */
export function continuationDelimiter(format: PromptFormat, prompting: Prompting = PLAIN): string {
  return prompting.chat === null ? format.targetDelimiter : "";
}

/** lm-eval's `Message`: a turn plus the delimiter it carries when rendered as plain text. */
interface Message extends ChatTurn {
  delimiter: string;
}

function toText(m: Message): string {
  return m.content + m.delimiter;
}

function toTurn(m: Message): ChatTurn {
  return { role: m.role, content: m.content };
}

/**
 * lm-eval's `multiturn_to_singleturn`: the system turn stays, everything after it becomes one
 * user turn of plain text (the last turn is always the question here, without a delimiter).
 */
function singleTurn(messages: readonly Message[]): ChatTurn[] {
  const [first, ...rest] = messages;
  const system = first.role === "system" ? [toTurn(first)] : [];
  const body = first.role === "system" ? rest : messages;
  return [...system, { role: "user", content: body.map(toText).join("") }];
}

const SPACE = new RegExp(`[${PY_WHITESPACE}]`);

/**
 * lm-eval's `maybe_delimit`: `prefix + delimiter + suffix`, without the delimiter when either side
 * has whitespace at the join, and just the other when one is empty.
 */
export function maybeDelimit(prefix: string | null, suffix: string | null, delimiter: string): string {
  if (!prefix) return suffix ?? "";
  if (!suffix) return prefix;
  return SPACE.test(prefix[prefix.length - 1]) || SPACE.test(suffix[0])
    ? prefix + suffix
    : prefix + delimiter + suffix;
}

/**
 * A shot as text. An empty answer counts as no answer in `build_qa_turn`, which then drops both
 * delimiters along with it.
 */
function shotText(format: PromptFormat, shot: Shot): string {
  if (shot.a === "") return shot.q;
  return shot.q + format.targetDelimiter + shot.a + format.fewshotDelimiter;
}
