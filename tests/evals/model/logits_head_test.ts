/**
 * The logits head (a graph the engine writes itself) against float64 log-softmax and argmax
 * computed on the host, for float32 and float16 logits, and through a real model's step.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { LogitsHead } from "../../../evals/model/logits_head.ts";
import { OnnxModel, openSession } from "../../../evals/model/onnx_model.ts";
import { Tensor } from "../../../evals/model/ort/tensor.ts";
import { Stream } from "../../../evals/model/stream.ts";
import { Rng } from "../../../core/random.ts";

function hostLogSoftmax(row: ArrayLike<number>, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return row[index] - max - Math.log(sum);
}

function hostArgmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

for (const type of ["float32", "float16"] as const) {
  Deno.test(`the logits head reads ${type} logits as float64 log-softmax and argmax on the host do`, async () => {
    const [rows, len, vocab] = [3, 4, 1000];
    const rng = new Rng(7);
    const values = Float32Array.from({ length: rows * len * vocab }, () => 8 * (rng.uniform() - 0.5));
    // A tie: argmax must take the first of equal values, as torch.argmax does.
    values[5 * vocab + 10] = 20;
    values[5 * vocab + 900] = 20;
    // The argmax pads a row to whole blocks with copies of its last logit: a maximum there, alone
    // or tied with an earlier one, must still come out as the real token.
    values[0 * vocab + 999] = 30;
    values[11 * vocab + 998] = 20;
    values[11 * vocab + 999] = 20;
    const stored = type === "float16" ? Float16Array.from(values) : values;
    const logits = Tensor.fromHost(type, stored, [rows, len, vocab]);
    const head = LogitsHead.open((bytes) => openSession(bytes, "cpu"), type, vocab);
    try {
      const picks = [0, 5, 11, 5].map((index, k) => ({ index, target: [3, 900, 999, 10][k] }));
      const got = await head.read(logits, picks);
      picks.forEach(({ index, target }, k) => {
        const row = stored.subarray(index * vocab, (index + 1) * vocab);
        assert.ok(
          Math.abs(got.logprobs[k] - hostLogSoftmax(row, target)) < 1e-5,
          `pick ${k}: ${got.logprobs[k]} vs ${hostLogSoftmax(row, target)}`,
        );
        assert.equal(got.argmax[k], hostArgmax(row), `pick ${k}`);
      });
      assert.equal(got.argmax[1], 10, "first of two equal maxima");
      assert.equal(got.argmax[0], 999, "the last token, where the padding copies it");
      assert.equal(got.argmax[2], 998, "the first of two equal maxima at the end");
      await assert.rejects(() => head.read(logits, [{ index: 12, target: 0 }]), /Cannot pick position 12/);
      await assert.rejects(
        () => head.read(logits, [{ index: 0, target: vocab }]),
        /vocabulary has 1000 entries/,
      );
      assert.deepEqual(await head.read(logits, []), { logprobs: new Float32Array(0), argmax: [] });
    } finally {
      head.release();
      logits.dispose();
    }
  });
}

Deno.test("a step's picks equal the host computation over the same step's logits", async () => {
  for (const fixture of ["llama", "llama-fp16"]) {
    const model = await OnnxModel.load(fileURLToPath(new URL(`../../fixtures/${fixture}`, import.meta.url)));
    try {
      const { logits, stream } = await Stream.start(model, 2).step([[5, 6, 7], [8, 9]], "left");
      const picks = [{ row: 0, j: 2, target: 4 }, { row: 1, j: 0, target: 11 }, { row: 1, j: 1, target: 0 }];
      const got = await logits.pick(picks);
      picks.forEach((p, k) => {
        const row = logits.at(p.row, p.j);
        assert.ok(Math.abs(got.logprobs[k] - hostLogSoftmax(row, p.target)) < 1e-5, `${fixture} pick ${k}`);
        assert.equal(got.argmax[k], hostArgmax(row), `${fixture} pick ${k}`);
      });
      assert.deepEqual(await logits.lastArgmax(), [hostArgmax(logits.last(0)), hostArgmax(logits.last(1))]);
      assert.throws(() => logits.pick([{ row: 1, j: 2, target: 0 }]), /row 1: it has 2/);
      logits.dispose();
      stream.dispose();
    } finally {
      await model.release();
    }
  }
});
