/**
 * A model's chat template, chosen and rendered as lm-eval 0.4.13 does (`TemplateLM.chat_template`,
 * `HFLM.apply_chat_template`) with transformers' `apply_chat_template(tokenize=False)`: the Jinja
 * source from `tokenizer_config.json` (`chat_template`, a string or a list of named templates) or
 * `chat_template.jinja`, rendered by `@huggingface/jinja` (trim_blocks and lstrip_blocks, as
 * transformers' environment) with the tokenizer's special tokens as variables.
 *
 * @module
 */

import { Template } from "@huggingface/jinja";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../core/errors.ts";

/** One turn of a conversation, as lm-eval hands it to the template. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** The templates a tokenizer holds: one, or several by name (transformers' dict form). */
export type ChatTemplates = string | Record<string, string>;

/** Special-token variables transformers passes to every template (`special_tokens_map`). */
const SPECIAL_TOKENS = [
  "bos_token",
  "eos_token",
  "unk_token",
  "sep_token",
  "pad_token",
  "cls_token",
  "mask_token",
] as const;

/** A chat template chosen for a run. */
export class ChatTemplate {
  /** The template's name when the tokenizer holds several, else null. */
  readonly name: string | null;
  /** The Jinja source. */
  readonly source: string;
  /** sha256 of the source: what makes samples of different templates distinct. */
  readonly sha256: string;
  readonly #template: Template;
  readonly #variables: Record<string, string>;

  constructor(source: string, name: string | null, variables: Record<string, string>) {
    this.source = source;
    this.name = name;
    this.sha256 = createHash("sha256").update(source).digest("hex");
    try {
      this.#template = new Template(source);
    } catch (error) {
      throw new UserError(
        `Cannot parse the chat template${name ? ` "${name}"` : ""} (${(error as Error).message}): ` +
          "fix chat_template in tokenizer_config.json",
      );
    }
    this.#variables = variables;
  }

  /**
   * The conversation as text. lm-eval passes `add_generation_prompt` and its negation as
   * `continue_final_message`; kvbench's tasks never end on an assistant turn, so only the first
   * matters. A template that fails is retried without system turns, as lm-eval does on a
   * `TemplateError` (templates that reject the system role).
   */
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    const render = (chat: readonly ChatMessage[]) =>
      this.#template.render({
        ...this.#variables,
        messages: chat.map((m) => ({ ...m })),
        add_generation_prompt: addGenerationPrompt,
      });
    try {
      return render(messages);
    } catch (first) {
      const withoutSystem = messages.filter((m) => m.role !== "system");
      if (withoutSystem.length === messages.length) throw templateFailed(first, this.name);
      try {
        return render(withoutSystem);
      } catch (error) {
        throw templateFailed(error, this.name);
      }
    }
  }
}

function templateFailed(error: unknown, name: string | null): UserError {
  return new UserError(
    `Cannot apply the chat template${name ? ` "${name}"` : ""}: ${
      String((error as Error).message ?? error).split("\n")[0]
    }`,
  );
}

/**
 * The templates of a tokenizer directory: tokenizer_config.json's `chat_template` (a string, or
 * a list of `{name, template}` as transformers saves several), else `chat_template.jinja` (where
 * transformers ≥ 4.43 saves it); null when it has none.
 */
export function readChatTemplates(dir: string, config: Record<string, unknown>): ChatTemplates | null {
  const value = config.chat_template;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named: Record<string, string> = {};
    for (const entry of value) {
      const { name, template } = (entry ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name !== "string" || typeof template !== "string") {
        throw new UserError(
          `Cannot read chat_template in ${join(dir, "tokenizer_config.json")}: each entry of the list ` +
            `needs a string "name" and "template"`,
        );
      }
      named[name] = template;
    }
    return named;
  }
  const jinja = join(dir, "chat_template.jinja");
  return existsSync(jinja) ? readFileSync(jinja, "utf8") : null;
}

/** The special-token variables of a tokenizer_config.json (strings or `{content}` objects). */
export function specialTokenVariables(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of SPECIAL_TOKENS) {
    const token = config[key];
    const text = typeof token === "string"
      ? token
      : token && typeof token === "object" && "content" in token
      ? String((token as { content: unknown }).content)
      : null;
    if (text !== null) out[key] = text;
  }
  return out;
}

/**
 * The template lm-eval would use for `--apply_chat_template [name]`: with several, the named one
 * or else `default`; with one, that one (a name is then ignored, as lm-eval only warns).
 *
 * @throws {UserError} when there is no template, or the name (or `default`) is not among several.
 */
export function selectChatTemplate(
  templates: ChatTemplates | null,
  name: string | null,
  variables: Record<string, string>,
  where: string,
): ChatTemplate {
  if (templates === null) {
    throw new UserError(
      `Cannot apply a chat template as ${where} has none (no chat_template in tokenizer_config.json, ` +
        "no chat_template.jinja): leave out --apply-chat-template",
    );
  }
  if (typeof templates === "string") return new ChatTemplate(templates, null, variables);
  const names = Object.keys(templates).sort();
  const chosen = name ?? "default";
  if (!(chosen in templates)) {
    throw new UserError(
      name === null
        ? `Cannot choose a chat template as ${where} has several and none is "default": pass ` +
          `--apply-chat-template NAME with one of ${names.join(", ")}`
        : `Cannot apply chat template "${name}" as ${where} has no template of that name: ` +
          `use one of ${names.join(", ")}`,
    );
  }
  return new ChatTemplate(templates[chosen], chosen, variables);
}
