import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../../core/errors.ts";
import { prompting, promptingKey } from "../../../evals/evaluate.ts";
import { TextTokenizer } from "../../../evals/model/tokenizer.ts";

const FIXTURE = fileURLToPath(new URL("../../data/chat_template/model/", import.meta.url));
const LLAMA = fileURLToPath(new URL("../../fixtures/llama/", import.meta.url));

/** A tokenizer dir with the llama fixture's tokenizer.json and `config` added to its tokenizer_config.json. */
function tokenizerWith(config: Record<string, unknown>, files: Record<string, string> = {}): TextTokenizer {
  const dir = Deno.makeTempDirSync({ prefix: "kvbench-chat-" });
  copyFileSync(join(LLAMA, "tokenizer.json"), join(dir, "tokenizer.json"));
  const base = JSON.parse(Deno.readTextFileSync(join(LLAMA, "tokenizer_config.json")));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...base, ...config }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return TextTokenizer.load(dir);
}

const turns = [{ role: "system", content: "Be brief." }, { role: "user", content: " Hi " }] as const;

Deno.test("the default of several templates renders Llama-3 style, bos_token and trim included", () => {
  const t = TextTokenizer.load(FIXTURE).chatTemplate(null);
  assert.equal(t.name, "default");
  assert.equal(
    t.render(turns, true),
    "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  );
  assert.ok(!t.render(turns, false).endsWith("assistant<|end_header_id|>\n\n"));
});

Deno.test("a named template is chosen; one that rejects the system turn is retried without it, as lm-eval", () => {
  const t = TextTokenizer.load(FIXTURE).chatTemplate("chatml");
  assert.equal(t.name, "chatml");
  assert.equal(t.render(turns, true), "<|im_start|>user\n Hi <|im_end|>\n<|im_start|>assistant\n");
});

Deno.test("an unknown template name, several without a default, or none at all is one line naming the fix", () => {
  const tok = TextTokenizer.load(FIXTURE);
  assert.throws(
    () => tok.chatTemplate("nope"),
    (e) => e instanceof UserError && /no template of that name: use one of chatml, default$/.test(e.message),
  );
  const noDefault = tokenizerWith({
    chat_template: [{ name: "a", template: "x" }, { name: "b", template: "y" }],
  });
  assert.throws(
    () => noDefault.chatTemplate(null),
    (e) => e instanceof UserError && /none is "default"/.test(e.message),
  );
  assert.throws(
    () => tokenizerWith({}).chatTemplate(null),
    (e) => e instanceof UserError && e.message.includes("leave out --apply-chat-template"),
  );
});

Deno.test("a single template (a string, or chat_template.jinja) is used whatever the name", () => {
  const one = tokenizerWith({ chat_template: "{{ messages[0].content }}|{{ eos_token }}" });
  assert.equal(one.chatTemplate("anything").render(turns, true), "Be brief.|</s>");
  const jinja = tokenizerWith({}, {
    "chat_template.jinja": "{% for m in messages %}[{{ m.role }}]{% endfor %}",
  });
  assert.equal(jinja.chatTemplate(null).render(turns, true), "[system][user]");
});

Deno.test("encode() adds no second BOS to a prompt whose template already starts with it (has_bos_prefix)", () => {
  const tok = TextTokenizer.load(FIXTURE);
  const withBos = tok.encode("<s>hello", true);
  assert.equal(withBos.filter((id) => id === tok.bosId).length, 1);
  assert.deepEqual(withBos, tok.encode("<s>hello", false));
  assert.deepEqual(tok.encode("hello", true), [tok.bosId, ...tok.encode("hello", false)]);
});

Deno.test("prompting keys: null for plain prompts (old hashes stay), else template sha256, layout and system", () => {
  const tok = TextTokenizer.load(FIXTURE);
  assert.equal(promptingKey({}, tok), null);
  assert.equal(prompting({}, tok).chat, null);
  const chat = promptingKey({ chatTemplate: { name: null } }, tok)!;
  assert.equal((chat.chatTemplate as { name: string }).name, "default");
  assert.match((chat.chatTemplate as { sha256: string }).sha256, /^[0-9a-f]{64}$/);
  assert.equal(chat.fewshotAsMultiturn, true);
  assert.notDeepEqual(promptingKey({ chatTemplate: { name: "chatml" } }, tok), chat);
  assert.notDeepEqual(promptingKey({ chatTemplate: { name: null }, fewshotAsMultiturn: false }, tok), chat);
  assert.deepEqual(promptingKey({ systemInstruction: "S" }, tok), {
    chatTemplate: null,
    fewshotAsMultiturn: false,
    systemInstruction: "S",
  });
});
