import assert from "node:assert/strict";
import { UserError } from "../../../core/errors.ts";
import { validateSidecar } from "../../../evals/model/sidecar.ts";

const PATH = "/m/kvbench.json";

Deno.test("validateSidecar() accepts the exports' sidecars and fields it does not read", () => {
  const sidecar = {
    format: 1,
    family: "zebra",
    name: "tiny-zebra",
    dtype: "float32",
    vocab_size: 512,
    max_length: 256,
    layers: [{ index: 0 }],
    cache: { bytes_per_token: 64, fixed_state_bytes: 10240, bytes_per_token_formula: "2*r", extra: 1 },
    state_seq_axis: { "past_key_values.0.key": 2, "past_conv.1": null },
    seed: 0,
  };
  assert.equal(validateSidecar(sidecar, PATH), sidecar);
  assert.deepEqual(validateSidecar({}, PATH), {});
});

Deno.test("validateSidecar() names the file, the field, what it holds and what it should", () => {
  const cases: [unknown, RegExp][] = [
    [{ family: ["llama"] }, /"family" is \["llama"\] \(an array\) where kvbench expects a non-empty string/],
    [{ max_length: "lots" }, /"max_length" is "lots" \(a string\) where kvbench expects a positive integer/],
    [{ max_length: 1e30 }, /"max_length" is 1e\+30 \(a number\)/],
    [{ name: 42 }, /"name" is 42 \(a number\) where kvbench expects a non-empty string/],
    [{ cache: { bytes_per_token: "512" } }, /"cache\.bytes_per_token" is "512" \(a string\)/],
    [
      { state_seq_axis: { "past.0": 0 } },
      /"state_seq_axis\.past\.0" is 0 \(a number\) where kvbench expects an axis/,
    ],
    [
      { score_graph: "../score.onnx" },
      /"score_graph" is "\.\.\/score\.onnx" \(a string\) where kvbench expects a file name beside/,
    ],
    [["llama"], /as it holds \["llama"\] \(an array\) where kvbench expects a JSON object/],
  ];
  for (const [raw, expected] of cases) {
    assert.throws(
      () => validateSidecar(raw, PATH),
      (e) =>
        e instanceof UserError && e.message.startsWith(`Cannot use ${PATH} as `) && expected.test(e.message),
      JSON.stringify(raw),
    );
  }
});
