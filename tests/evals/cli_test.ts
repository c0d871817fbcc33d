import assert from "node:assert/strict";
import { UserError } from "../../evals/errors.ts";
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
  assert.deepEqual(args.kvPairs, [4, 8]);
  assert.deepEqual(args.lengths, [64]);
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

Deno.test("parseEvalArgs() refuses lm-eval flags we don't support yet by name, in one line", () => {
  for (const flag of ["--apply_chat_template", "--fewshot_as_multiturn", "--predict_only"]) {
    assert.throws(
      () => parseEvalArgs(["--tasks", "mqar", flag]),
      (e) =>
        e instanceof UserError && e.message.startsWith(`lm-eval's ${flag} is not supported by kvbench yet`) &&
        !e.message.includes("\n"),
    );
  }
  assert.throws(
    () => parseEvalArgs(["--system_instruction", "Be brief", "--gen_kwargs=temperature=0"]),
    (e) =>
      e instanceof UserError &&
      /^lm-eval's --system_instruction, --gen_kwargs are not supported by kvbench yet/.test(e.message),
  );
});

Deno.test("parseEvalArgs() reads --version", () => {
  assert.equal(parseEvalArgs(["--version"]).version, true);
  assert.equal(parseEvalArgs([]).version, false);
});
