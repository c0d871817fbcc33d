/**
 * The model's tokenizer and its BOS policy.
 *
 * @module
 */

import { Tokenizer } from "@huggingface/tokenizers";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { UserError } from "../../core/errors.ts";
import {
  type ChatTemplate,
  type ChatTemplates,
  readChatTemplates,
  selectChatTemplate,
  specialTokenVariables,
} from "./chat_template.ts";

/** `auto` follows tokenizer_config.json's `add_bos_token`; the others force it. */
export type BosPolicy = "auto" | "true" | "false";

/** A Hugging Face tokenizer loaded from a model directory. */
export class TextTokenizer {
  /** Id of the BOS token, if the tokenizer has one. */
  readonly bosId: number | null;
  /** Id of the EOS token, if the tokenizer has one. */
  readonly eosId: number | null;
  /** What tokenizer_config.json says about adding BOS. */
  readonly configAddsBos: boolean;
  /** sha256 of tokenizer.json followed by tokenizer_config.json. */
  readonly sha256: string;
  /** The chat templates the directory holds (tokenizer_config.json or chat_template.jinja), or null. */
  readonly chatTemplates: ChatTemplates | null;
  readonly #tokenizer: Tokenizer;
  readonly #dir: string;
  readonly #specialTokens: Record<string, string>;

  private constructor(
    tokenizer: Tokenizer,
    config: Record<string, unknown>,
    sha256: string,
    dir: string,
  ) {
    this.#tokenizer = tokenizer;
    this.sha256 = sha256;
    this.#dir = dir;
    this.#specialTokens = specialTokenVariables(config);
    this.chatTemplates = readChatTemplates(dir, config);
    this.bosId = tokenId(tokenizer, config.bos_token);
    this.eosId = tokenId(tokenizer, config.eos_token);
    this.configAddsBos = config.add_bos_token === true;
  }

  /**
   * Loads `tokenizer.json` and `tokenizer_config.json` from `dir`.
   *
   * @throws {UserError} when either file is missing or not valid JSON.
   */
  static load(dir: string): TextTokenizer {
    const raw: string[] = [];
    const parsed: Record<string, unknown>[] = [];
    for (const name of ["tokenizer.json", "tokenizer_config.json"]) {
      const path = join(dir, name);
      if (!existsSync(path)) {
        throw new UserError(
          `Cannot load the tokenizer as ${path} does not exist: copy ${name} from the ` +
            `checkpoint the model was exported from into ${dir}`,
        );
      }
      const text = readFileSync(path, "utf8");
      raw.push(text);
      try {
        parsed.push(JSON.parse(text));
      } catch (error) {
        throw new UserError(`Cannot read ${path} as it is not valid JSON: ${(error as Error).message}`);
      }
    }
    const sha = createHash("sha256").update(raw[0]).update(raw[1]).digest("hex");
    return new TextTokenizer(new Tokenizer(parsed[0], parsed[1]), parsed[1], sha, dir);
  }

  /**
   * The chat template `--apply-chat-template [name]` renders with, chosen as lm-eval does.
   *
   * @throws {UserError} when the tokenizer has no template or not the one named.
   */
  chatTemplate(name: string | null): ChatTemplate {
    return selectChatTemplate(this.chatTemplates, name, this.#specialTokens, this.#dir);
  }

  /** Whether `policy` means BOS is prepended. */
  addsBos(policy: BosPolicy): boolean {
    if (policy === "auto") return this.configAddsBos && this.bosId !== null;
    return policy === "true";
  }

  /**
   * Encodes text without special tokens, prepending BOS when `addBos` is set and the text does not
   * already start with the BOS token's text (a chat template's `{{ bos_token }}`), as lm-eval's
   * `has_bos_prefix` check does.
   */
  encode(text: string, addBos = false): number[] {
    const ids = text.length === 0 ? [] : this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
    const bosText = this.#specialTokens.bos_token;
    if (addBos && bosText && text.startsWith(bosText)) return ids;
    if (addBos) {
      if (this.bosId === null) {
        throw new UserError("Cannot add BOS as the tokenizer has no bos_token: use --add-bos false");
      }
      return [this.bosId, ...ids];
    }
    return ids;
  }

  /** Decodes ids to text, skipping special tokens. */
  decode(ids: readonly number[]): string {
    // tokenizers.js rejects an empty id list; the empty text is the right answer.
    if (ids.length === 0) return "";
    return this.#tokenizer.decode([...ids], { skip_special_tokens: true });
  }

  /** The token lm-eval puts in place of an empty context: BOS, or EOS when there is no BOS. */
  get prefixTokenId(): number {
    const id = this.bosId ?? this.eosId;
    if (id === null) {
      throw new UserError("Cannot score an empty context as the tokenizer has neither BOS nor EOS");
    }
    return id;
  }
}

function tokenId(tokenizer: Tokenizer, token: unknown): number | null {
  const text = typeof token === "string"
    ? token
    : token && typeof token === "object" && "content" in token
    ? String((token as { content: unknown }).content)
    : null;
  if (text === null) return null;
  return tokenizer.token_to_id(text) ?? null;
}
