import assert from "node:assert/strict";
import { UserError } from "../../core/errors.ts";
import { parseEvalArgs } from "../../evals/cli.ts";

Deno.test("parseEvalArgs() gives defaults for an empty command line", () => {
  const args = parseEvalArgs([]);
  assert.equal(args.tasks, "mqar");
  assert.equal(args.batchSize, 8);
  assert.equal(args.device, "cpu");
  assert.equal(args.addBos, "auto");
  assert.deepEqual(args.models, []);
});

Deno.test("parseEvalArgs() reads lists and numbers", () => {
  const args = parseEvalArgs(["--model", "a,b", "--kv-pairs", "4,8", "--lengths", "64", "--limit", "5"]);
  assert.deepEqual(args.models, ["a", "b"]);
  assert.deepEqual(args.synthetic.kvPairs, [4, 8]);
  assert.deepEqual(args.synthetic.lengths, [64]);
  assert.equal(args.limit, 5);
});

Deno.test("parseEvalArgs() reports every bad value in one error", () => {
  assert.throws(
    () => parseEvalArgs(["--limit", "0", "--device", "tpu", "--add-bos", "maybe"]),
    (e) =>
      e instanceof UserError && /--limit must be/.test(e.message) &&
      /--device must be one of cpu, cuda/.test(e.message) &&
      /--add-bos must be/.test(e.message),
  );
});

Deno.test("parseEvalArgs() rejects unknown flags", () => {
  assert.throws(() => parseEvalArgs(["--bogus"]), (e) => e instanceof UserError && /--bogus/.test(e.message));
});

Deno.test("parseEvalArgs() takes --limit as a count or, as lm-eval, a fraction of each task's docs", () => {
  assert.equal(parseEvalArgs(["--limit", "0.1"]).limit, 0.1);
  assert.equal(parseEvalArgs(["--limit", "250"]).limit, 250);
  for (const bad of ["-1", "0", "1.5", "-0.5", "lots", ""]) {
    assert.throws(
      () => parseEvalArgs(["--limit", bad]),
      (e) =>
        e instanceof UserError &&
        e.message.includes(
          `--limit must be a whole number of docs ≥ 1 or a fraction between 0 and 1, e.g. 0.1 (got "${bad}")`,
        ),
      bad,
    );
  }
});

Deno.test("parseEvalArgs() reads a negative value as a value, not as an ambiguous flag", () => {
  assert.throws(
    () => parseEvalArgs(["--seed", "-3", "--num-fewshot", "-1"]),
    (e) =>
      e instanceof UserError && !/ambiguous/.test(e.message) &&
      /--num-fewshot must be an integer ≥ 0 \(got "-1"\)/.test(e.message) &&
      /--seed must be an integer ≥ 0 \(got "-3"\)/.test(e.message),
  );
});

Deno.test("parseEvalArgs() refuses an empty --model rather than running every bundled model", () => {
  for (const empty of ["", " ", ","]) {
    assert.throws(
      () => parseEvalArgs(["--model", empty]),
      (e) => e instanceof UserError && /--model needs a model directory/.test(e.message),
      JSON.stringify(empty),
    );
  }
});

Deno.test("parseEvalArgs() takes lm-eval's underscore spellings of the flags we share", () => {
  const ours = parseEvalArgs([
    "--num-fewshot",
    "5",
    "--batch-size",
    "auto",
    "--output-path",
    "out",
    "--log-samples",
    "--max-length",
    "512",
  ]);
  const lmEval = parseEvalArgs([
    "--num_fewshot",
    "5",
    "--batch_size=auto",
    "--output_path",
    "out",
    "--log_samples",
    "--max_length",
    "512",
  ]);
  assert.deepEqual(lmEval, ours);
  assert.equal(lmEval.numFewshot, 5);
  assert.equal(lmEval.autoBatch, true);
  assert.equal(lmEval.maxLength, 512);
  // Only where we have the dash flag: lm-eval's --model_args stays unknown.
  assert.throws(() => parseEvalArgs(["--model_args", "x"]), (e) => e instanceof UserError);
});

Deno.test("parseEvalArgs() takes lm-eval's --gen_kwargs (greedy keys) and --predict_only", () => {
  const args = parseEvalArgs([
    "--gen_kwargs",
    "max_gen_toks=32,until=\\n\\n,do_sample=false,temperature=0",
    "--predict_only",
    "--output_path",
    "out.json",
  ]);
  assert.deepEqual(args.genKwargs, { maxGenToks: 32, until: ["\n\n"] });
  assert.equal(args.logSamples, true, "--predict_only implies --log_samples, as in lm-eval");
  for (
    const [kwargs, reason] of [["temperature=0.7", /asks for sampling/], [
      "top_p=0.9",
      /top_p is not supported/,
    ], [
      "max_gen_toks=0",
      /≥ 1/,
    ], ["oops", /key=value/]] as const
  ) {
    assert.throws(
      () => parseEvalArgs(["--gen_kwargs", kwargs]),
      (e) => e instanceof UserError && reason.test(e.message),
    );
  }
  assert.throws(() => parseEvalArgs(["--predict_only"]), /--log-samples needs --output-path/);
});

Deno.test("parseEvalArgs() reads the chat flags in both spellings, with lm-eval's optional values", () => {
  const plain = parseEvalArgs([]);
  assert.equal(plain.applyChatTemplate, false);
  assert.equal(plain.fewshotAsMultiturn, false);
  assert.equal(plain.systemInstruction, null);
  // A bare --apply_chat_template turns few-shot multiturn on, as lm-eval's CLI does.
  for (
    const argv of [["--apply_chat_template", "--tasks", "mqar"], ["--tasks", "mqar", "--apply-chat-template"]]
  ) {
    const a = parseEvalArgs(argv);
    assert.equal(a.applyChatTemplate, true);
    assert.equal(a.chatTemplateName, null);
    assert.equal(a.fewshotAsMultiturn, true);
    assert.equal(a.tasks, "mqar");
  }
  const named = parseEvalArgs(["--apply_chat_template", "chatml", "--fewshot_as_multiturn", "false"]);
  assert.equal(named.chatTemplateName, "chatml");
  assert.equal(named.fewshotAsMultiturn, false);
  assert.equal(
    parseEvalArgs(["--apply-chat-template=tool", "--fewshot-as-multiturn"]).chatTemplateName,
    "tool",
  );
  assert.equal(parseEvalArgs(["--system_instruction", "Be brief."]).systemInstruction, "Be brief.");
  assert.equal(parseEvalArgs(["--system-instruction=Be brief."]).systemInstruction, "Be brief.");
});

Deno.test("parseEvalArgs() refuses --fewshot-as-multiturn without a chat template or with a non-boolean", () => {
  assert.throws(
    () => parseEvalArgs(["--fewshot_as_multiturn"]),
    (e) => e instanceof UserError && e.message.includes("--fewshot-as-multiturn needs --apply-chat-template"),
  );
  assert.throws(
    () => parseEvalArgs(["--apply-chat-template", "--fewshot-as-multiturn=maybe"]),
    (e) =>
      e instanceof UserError &&
      e.message.includes('--fewshot-as-multiturn must be true or false (got "maybe")'),
  );
  // Turned off without a template is fine: it is what plain prompts do anyway.
  assert.equal(parseEvalArgs(["--fewshot-as-multiturn", "false"]).fewshotAsMultiturn, false);
});

Deno.test("parseEvalArgs() reads --version", () => {
  assert.equal(parseEvalArgs(["--version"]).version, true);
  assert.equal(parseEvalArgs([]).version, false);
});
