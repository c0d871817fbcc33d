/**
 * How prompts are dressed (lm-eval's system instruction and chat flags): the contract between the
 * command line, which decides it, and the tasks, which build their prompts with it.
 *
 * @module
 */

/** One chat turn, as lm-eval's `Message.to_dict()` gives it to a chat template. */
export interface ChatTurn {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Renders a conversation with the model's chat template (`add_generation_prompt` as given). */
export type ChatRenderer = (messages: readonly ChatTurn[], addGenerationPrompt: boolean) => string;

/** How prompts are dressed: lm-eval's `--system_instruction`, `--apply_chat_template`, `--fewshot_as_multiturn`. */
export interface Prompting {
  /** Text of the system turn, before the task's description; null for none. */
  systemInstruction: string | null;
  /** The chat template, or null for plain-text prompts. */
  chat: ChatRenderer | null;
  /** With a chat template: each shot its own user/assistant turns, else one user turn for all. */
  fewshotAsMultiturn: boolean;
}

/** Plain-text prompts: lm-eval's defaults. */
export const PLAIN: Prompting = { systemInstruction: null, chat: null, fewshotAsMultiturn: false };
