import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../../evals/errors.ts";
import { argmax } from "../../../evals/lm.ts";
import { DecodeLoop, PrefillLoop } from "../../../evals/model/decode_loop.ts";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { Stream } from "../../../evals/model/stream.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));
const STEPS = 8;
// Two rows of different lengths, so the shorter one is left-padded and its positions differ.
const PROMPTS = [[5, 9, 14, 22, 31, 40, 47, 58, 63], [70, 81, 95, 102]];

/** Step-by-step greedy decoding from `stream`, as `LM.generateUntil` does it. */
async function stepwise(stream: Stream, first: readonly number[], steps: number): Promise<number[][]> {
  const out: number[][] = first.map(() => []);
  let current = [...first];
  for (let i = 0; i < steps; i++) {
    const { logits, stream: next } = await stream.step(current.map((t) => [t]), "left");
    current = current.map((_, r) => argmax(logits.last(r)));
    current.forEach((t, r) => out[r].push(t));
    stream = next;
  }
  return out;
}

for (const family of ["llama", "zebra", "dma"]) {
  const dir = join(fixtures, family);
  Deno.test({
    name: `${family}: the decode loop's ${STEPS} greedy tokens equal step-by-step greedy decoding`,
    fn: async () => {
      const model = await OnnxModel.load(dir);
      const loop = await DecodeLoop.load(model);
      assert.deepEqual(loop.stateInputs, model.states.map((s) => s.input));
      const { logits, stream } = await Stream.start(model, 2).prefill(PROMPTS);
      const first = PROMPTS.map((_, r) => argmax(logits.last(r)));
      const looped = await loop.generate(stream, first, STEPS);
      const expected = await stepwise(stream, first, STEPS);
      assert.deepEqual(looped, expected);
      // The rows differ, so a loop that mixed them up or ignored the state would show.
      assert.notDeepEqual(expected[0], expected[1]);
      // A shorter loop from the same stream is a prefix: the stream was not changed by the run.
      assert.deepEqual(await loop.generate(stream, first, 3), expected.map((row) => row.slice(0, 3)));
      await loop.release();
      await model.release();
    },
  });
}

Deno.test("a model directory without decode_loop.onnx gives a UserError that says how to write it", async () => {
  const model = await OnnxModel.load(join(fixtures, "transmla"));
  try {
    await assert.rejects(
      () => DecodeLoop.load(model),
      (error: Error) => {
        assert.ok(error instanceof UserError, `${error}`);
        assert.match(error.message, /decode_loop\.onnx does not exist/);
        assert.match(error.message, /python3 scripts\/export_decode_loop\.py --model /);
        assert.ok(!error.message.includes("\n"), "one line");
        return true;
      },
    );
  } finally {
    await model.release();
  }
});

Deno.test({
  name: "the decode loop refuses a stream of another model's states, and bad step counts",
  fn: async () => {
    const llama = await OnnxModel.load(join(fixtures, "llama"));
    const loop = await DecodeLoop.load(llama);
    const zebra = await OnnxModel.load(join(fixtures, "zebra"));
    const { stream } = await Stream.start(zebra, 1).prefill([[5, 6, 7]]);
    await assert.rejects(() => loop.generate(stream, [8], 2), /lacks state inputs past_key_values\.1\.key/);
    await assert.rejects(() => loop.generate(stream, [8], 0), RangeError);
    await assert.rejects(() => loop.generate(stream, [8, 9], 2), RangeError);
    await zebra.release();
    await loop.release();
    await llama.release();
  },
});

for (const family of ["llama", "zebra", "dma"]) {
  Deno.test(`${family}: the prefill loop gives the chunked prefill's logits and state`, async () => {
    const model = await OnnxModel.load(join(fixtures, family));
    const loop = await PrefillLoop.load(model);
    try {
      const rows = [[5, 9, 14, 3, 22, 7, 8, 30, 31, 2, 17, 40, 41], [11, 12, 13, 19, 23]];
      const stepped = await Stream.start(model, 2).prefill(rows, 4);
      const looped = await loop.prefill(Stream.start(model, 2), rows, 4);
      const gap = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
      for (const r of [0, 1]) {
        assert.ok(gap(looped.logits.last(r), stepped.logits.last(r)) < 1e-4, `row ${r} last logits`);
      }
      assert.deepEqual(looped.stream.realCounts, [13, 5]);
      // The state carries on: one more token gives the same logits either way.
      const a = await stepped.stream.step([[50], [51]], "left");
      const b = await looped.stream.step([[50], [51]], "left");
      for (const r of [0, 1]) {
        assert.ok(gap(a.logits.last(r), b.logits.last(r)) < 1e-4, `row ${r} after a step`);
      }
      assert.equal(looped.stream.measureCache().bytesPerToken, stepped.stream.measureCache().bytesPerToken);
      await assert.rejects(loop.prefill(looped.stream, rows, 4), /holds tokens/);
    } finally {
      await loop.release();
      await model.release();
    }
  });
}

Deno.test("a missing prefill_loop.onnx says how to write it", async () => {
  const model = await OnnxModel.load(join(fixtures, "transmla"));
  try {
    await assert.rejects(PrefillLoop.load(model), /export_decode_loop\.py --model .* --prefill/);
  } finally {
    await model.release();
  }
});
