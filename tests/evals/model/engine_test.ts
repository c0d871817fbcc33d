/**
 * The C API engine against onnxruntime-node's JS binding (the path kvbench ran on before): the
 * same feeds must give bit-identical logits and states on every fixture, through a left-padded
 * prefill, decode steps fed from the engine's own state, and a row gather.
 */

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ortNode from "onnxruntime-node";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { Stream } from "../../../evals/model/stream.ts";
import { readFloat32, type Tensor } from "../../../evals/model/ort/tensor.ts";
import { rowRuns } from "../../../evals/model/ort/session.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));
const dirs = [
  ...readdirSync(fixtures).filter((d) => d !== "geometry").map((d) => join(fixtures, d)),
  ...readdirSync(join(fixtures, "geometry")).map((d) => join(fixtures, "geometry", d)),
].sort();

function asNode(tensor: Tensor): ortNode.Tensor {
  const bytes = tensor.hostBytes();
  if (tensor.type === "float32") {
    return new ortNode.Tensor("float32", new Float32Array(bytes.buffer), [...tensor.dims]);
  }
  const node = new ortNode.Tensor("float16", new Uint16Array(bytes.buffer), [...tensor.dims]);
  // Under Deno onnxruntime-common keeps float16 data as a Float16Array, which onnxruntime-node's
  // native code reads as 0 bytes; it reads a Uint16Array view of the same bytes.
  (node as unknown as { cpuData: Uint16Array }).cpuData = new Uint16Array(bytes.buffer);
  return node;
}

function nodeFloats(tensor: ortNode.Tensor): Float32Array {
  if (tensor.data instanceof Float32Array) return tensor.data;
  const bits = tensor.data as Uint16Array;
  return Float32Array.from(new Float16Array(bits.buffer, bits.byteOffset, bits.length));
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
  }
  return max;
}

for (const dir of dirs) {
  const name = dir.slice(fixtures.length + 1);
  Deno.test(`${name}: the C API engine gives onnxruntime-node's logits and states exactly`, async () => {
    const model = await OnnxModel.load(dir);
    const session = await ortNode.InferenceSession.create(join(dir, "model.onnx"), {
      executionProviders: ["cpu"],
      graphOptimizationLevel: "all",
    });
    let calls = 0;
    // Every call the engine makes is run again through onnxruntime-node, states read from the engine's own.
    const forward = model.forward.bind(model);
    model.forward = async (feeds) => {
      const inputs: Record<string, ortNode.Tensor> = {
        input_ids: new ortNode.Tensor("int64", feeds.inputIds.slice(), [feeds.rows, feeds.len]),
        attention_mask: new ortNode.Tensor("int64", feeds.attentionMask.slice(), [
          feeds.rows,
          feeds.pastLen + feeds.len,
        ]),
      };
      if (model.hasPositionIds) {
        inputs.position_ids = new ortNode.Tensor("int64", feeds.positionIds.slice(), [feeds.rows, feeds.len]);
      }
      if (model.hasLogitsToKeep) {
        inputs.num_logits_to_keep = new ortNode.Tensor(
          "int64",
          BigInt64Array.of(BigInt(Math.min(feeds.keep ?? 0, feeds.len))),
          [],
        );
      }
      for (const spec of model.states) inputs[spec.input] = asNode(feeds.states.get(spec.input)!);
      const out = await forward(feeds);
      const want = await session.run(inputs);
      const i = calls++;
      assert.equal(maxDiff(readFloat32(out.logits), nodeFloats(want.logits)), 0, `call ${i}: logits`);
      for (const spec of model.states) {
        const got = out.states.get(spec.input);
        if (!got) continue;
        const expected = want[spec.output];
        assert.deepEqual([...got.dims], [...expected.dims], `call ${i}: ${spec.output} shape`);
        const bytes = got.hostBytes();
        const values = got.type === "float16"
          ? new Float16Array(bytes.buffer)
          : new Float32Array(bytes.buffer);
        assert.equal(maxDiff(values, nodeFloats(expected)), 0, `call ${i}: ${spec.output}`);
      }
      return out;
    };
    try {
      const prompts = [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14]].map((p) => p.map((t) => t % model.vocabSize));
      let { stream } = await Stream.start(model, 2).prefill(prompts, 3);
      for (let step = 0; step < 3; step++) {
        ({ stream } = await stream.step([[15 + step], [20 + step]], "left"));
      }
      const picked = stream.select([1, 0, 1]);
      // A graph that takes no chunk after a past (llama-one-token) gets whole prompts and one token.
      const chunked = model.chunksAfterPast;
      await picked.finish(chunked ? [[3, 4], [5], [6, 7]] : [[3], [5], [6]], "right");
      assert.equal(calls, (chunked ? 3 : 1) + 3 + 1);
    } finally {
      await session.release();
      await model.release();
    }
  });
}

Deno.test("row copies go in runs that follow each other in source and result", () => {
  assert.deepEqual(rowRuns([0, 1, 2, 2, 3, 0]), [
    { from: 0, to: 0, rows: 3 },
    { from: 2, to: 3, rows: 2 },
    { from: 0, to: 5, rows: 1 },
  ]);
  assert.deepEqual(rowRuns([1, 1]), [{ from: 1, to: 0, rows: 1 }, { from: 1, to: 1, rows: 1 }]);
  assert.deepEqual(rowRuns([]), []);
});
