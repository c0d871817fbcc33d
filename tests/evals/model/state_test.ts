import assert from "node:assert/strict";
import { StateMismatchError } from "../../../core/errors.ts";
import {
  concreteShape,
  discoverStates,
  presentNameFor,
  type TensorMeta,
} from "../../../evals/model/state.ts";

const tokens: TensorMeta[] = [
  { name: "input_ids", type: "int64", shape: ["batch_size", "sequence_length"] },
  { name: "attention_mask", type: "int64", shape: ["batch_size", "total_sequence_length"] },
  { name: "position_ids", type: "int64", shape: ["batch_size", "sequence_length"] },
];
const logits: TensorMeta = { name: "logits", type: "float32", shape: ["batch_size", "sequence_length", 32] };

Deno.test("presentNameFor() follows the optimum and transformers.js names", () => {
  assert.equal(presentNameFor("past_key_values.3.key"), "present.3.key");
  assert.equal(presentNameFor("past_key_values.3.value"), "present.3.value");
  assert.equal(presentNameFor("past_conv.1"), "present_conv.1");
  assert.equal(presentNameFor("past_ssm.1"), "present_ssm.1");
});

Deno.test("discoverStates() tells growing KV and MLA states from fixed Mamba states", () => {
  const inputs: TensorMeta[] = [
    ...tokens,
    { name: "past_key_values.0.key", type: "float32", shape: ["batch_size", 1, "past_sequence_length", 24] },
    { name: "past_key_values.0.value", type: "float32", shape: ["batch_size", 1, "past_sequence_length", 8] },
    { name: "past_conv.1", type: "float16", shape: ["batch_size", 96, 4] },
    { name: "past_ssm.1", type: "float16", shape: ["batch_size", 4, 16, 16] },
  ];
  const outputs: TensorMeta[] = [
    logits,
    { name: "present.0.key", type: "float32", shape: ["batch_size", 1, "total", 24] },
    { name: "present.0.value", type: "float32", shape: ["batch_size", 1, "total", 8] },
    { name: "present_conv.1", type: "float16", shape: ["batch_size", 96, 4] },
    { name: "present_ssm.1", type: "float16", shape: ["batch_size", 4, 16, 16] },
  ];
  const states = discoverStates(inputs, outputs);
  assert.deepEqual(
    states.map((s) => [s.input, s.output, s.kind, s.seqAxis, s.dtype]),
    [
      ["past_key_values.0.key", "present.0.key", "growing", 2, "float32"],
      ["past_key_values.0.value", "present.0.value", "growing", 2, "float32"],
      ["past_conv.1", "present_conv.1", "fixed", null, "float16"],
      ["past_ssm.1", "present_ssm.1", "fixed", null, "float16"],
    ],
  );
  assert.deepEqual(concreteShape(states[0], 3, 0), [3, 1, 0, 24]);
  assert.deepEqual(concreteShape(states[3], 2, 99), [2, 4, 16, 16]);
});

Deno.test("discoverStates() names the missing present output", () => {
  const inputs = [...tokens, {
    name: "past_key_values.0.key",
    type: "float32",
    shape: ["batch_size", 2, "p", 4],
  }];
  assert.throws(
    () => discoverStates(inputs, [logits]),
    (e) => e instanceof StateMismatchError && /no output "present\.0\.key"/.test(e.message),
  );
});

Deno.test("discoverStates() rejects an input that is neither token input nor state", () => {
  const inputs = [...tokens, {
    name: "token_type_ids",
    type: "int64",
    shape: ["batch_size", "sequence_length"],
  }];
  assert.throws(() => discoverStates(inputs, [logits]), /"token_type_ids" is not a token input/);
});

Deno.test("discoverStates() accepts optimum's use_cache_branch and transformers.js's num_logits_to_keep", () => {
  const inputs: TensorMeta[] = [
    ...tokens,
    { name: "use_cache_branch", type: "bool", shape: [1] },
    { name: "num_logits_to_keep", type: "int64", shape: [] },
  ];
  assert.deepEqual(discoverStates(inputs, [logits]), []);
});

Deno.test("discoverStates() asks for a hint when two axes are symbolic, and takes it", () => {
  const inputs = [...tokens, { name: "past_x", type: "float32", shape: ["batch_size", "heads", "past", 4] }];
  const outputs = [logits, {
    name: "present_x",
    type: "float32",
    shape: ["batch_size", "heads", "total", 4],
  }];
  assert.throws(() => discoverStates(inputs, outputs), /state_seq_axis/);
  const [spec] = discoverStates(inputs, outputs, { seqAxis: { past_x: 2 } });
  assert.equal(spec.seqAxis, 2);
  assert.equal(spec.kind, "growing");
});
