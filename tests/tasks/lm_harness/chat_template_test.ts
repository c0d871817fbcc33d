import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { prompting } from "../../../evals/evaluate.ts";
import { TextTokenizer } from "../../../evals/model/tokenizer.ts";
import { buildContext, DEFAULT_FORMAT, type Shot } from "../../../tasks/lm_harness/_prompt.ts";
import { resolveTasks } from "../../../tasks/registry.ts";
import { offlineCtx } from "../_fixtures.ts";

// Written by scripts/check_chat_template.py from lm-eval 0.4.13's own build_all_requests.
const DIR = fileURLToPath(new URL("../../data/chat_template/", import.meta.url));

interface Setting {
  name: string;
  systemInstruction: string | null;
  applyChatTemplate: boolean;
  fewshotAsMultiturn: boolean;
  numFewshot: number;
  limit: number;
  tasks: Record<string, { docId: number; requests: Record<string, string>[] }[]>;
  gsm8k: { q: string; shots: Shot[]; context: string }[];
}

const { settings } = JSON.parse(Deno.readTextFileSync(`${DIR}prompts.json`)) as { settings: Setting[] };
const tokenizer = TextTokenizer.load(`${DIR}model`);

function promptingOf(s: Setting) {
  return prompting({
    chatTemplate: s.applyChatTemplate ? { name: null } : null,
    fewshotAsMultiturn: s.fewshotAsMultiturn,
    systemInstruction: s.systemInstruction,
  }, tokenizer);
}

for (const s of settings) {
  Deno.test(`${s.name}: every request is byte for byte lm-eval's`, async () => {
    const ctx = offlineCtx(`${DIR}data`, {
      numFewshot: s.numFewshot,
      limit: s.limit,
      prompting: promptingOf(s),
    });
    for (const [name, expected] of Object.entries(s.tasks)) {
      const [task] = resolveTasks(name).tasks;
      const prepared = await task.prepare(ctx);
      const ours = prepared.map((p) => ({
        docId: p.docId,
        requests: p.requests,
      }));
      assert.deepEqual(ours, expected, `${name} differs from lm-eval`);
    }
  });

  Deno.test(`${s.name}: a generate_until prompt (gsm8k's shots) is lm-eval's`, () => {
    const p = promptingOf(s);
    for (const doc of s.gsm8k) {
      assert.equal(buildContext(DEFAULT_FORMAT, doc.shots, doc.q, p), doc.context);
    }
  });
}

Deno.test("the fixture covers chat and plain, zero- and few-shot, multiturn and single turn, with a system turn", () => {
  const has = (f: (s: Setting) => boolean) => settings.some(f);
  assert.ok(has((s) => s.applyChatTemplate && s.fewshotAsMultiturn && s.numFewshot > 0));
  assert.ok(has((s) => s.applyChatTemplate && !s.fewshotAsMultiturn && s.numFewshot > 0));
  assert.ok(has((s) => s.applyChatTemplate && s.systemInstruction !== null && s.numFewshot === 0));
  assert.ok(has((s) => !s.applyChatTemplate && s.systemInstruction !== null));
  assert.ok(settings.every((s) => Object.keys(s.tasks).length === 4 && s.gsm8k.length > 0));
});
