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
