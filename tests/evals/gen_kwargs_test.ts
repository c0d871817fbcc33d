import assert from "node:assert/strict";
import { applyGenKwargs, parseGenKwargs } from "../../evals/gen_kwargs.ts";
import type { Request } from "../../core/requests.ts";

Deno.test("--gen_kwargs overrides every generate_until request and leaves the others alone", () => {
  const requests: Request[] = [
    { kind: "generate_until", context: "Q:", until: ["\n\n"], maxGenToks: 256 },
    { kind: "loglikelihood", context: "Q:", continuation: " A" },
  ];
  const out = applyGenKwargs(requests, parseGenKwargs("max_gen_toks=16, until='Question:'"));
  assert.deepEqual(out, [
    { kind: "generate_until", context: "Q:", until: ["Question:"], maxGenToks: 16 },
    requests[1],
  ]);
  assert.deepEqual(applyGenKwargs(requests, parseGenKwargs("do_sample=False")), requests);
});
