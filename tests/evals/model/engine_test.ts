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
import { Session } from "../../../evals/model/ort/session.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));
const dirs = [
  ...readdirSync(fixtures).filter((d) => d !== "geometry").map((d) => join(fixtures, d)),
  ...readdirSync(join(fixtures, "geometry")).map((d) => join(fixtures, "geometry", d)),
].sort();

function asNode(tensor: Tensor): ortNode.Tensor {
  const bytes = tensor.hostBytes();
  if (tensor.type === "int64") {
    return new ortNode.Tensor("int64", new BigInt64Array(bytes.buffer), [...tensor.dims]);
  }
  if (tensor.type === "int32") {
    return new ortNode.Tensor("int32", new Int32Array(bytes.buffer), [...tensor.dims]);
  }
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

/** The values of a float tensor of either binding, as float32. */
function floats(tensor: Tensor): Float32Array {
  const bytes = tensor.hostBytes();
  return tensor.type === "float16"
    ? Float32Array.from(new Float16Array(bytes.buffer))
    : new Float32Array(bytes.buffer);
}

/** The prefill, decode steps, row gather and scoring call every fixture goes through. */
async function exercise(model: OnnxModel): Promise<void> {
  const prompts = [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14]].map((p) => p.map((t) => t % model.vocabSize));
  let { stream } = await Stream.start(model, 2).prefill(prompts, 3);
  for (let step = 0; step < 3; step++) {
    ({ stream } = await stream.step([[15 + step], [20 + step]], "left"));
  }
  const picked = stream.select([1, 0, 1]);
  // A graph that takes no chunk after a past (llama-one-token) gets whole prompts and one token.
  const chunked = model.chunksAfterPast;
  await picked.finish(chunked ? [[3, 4], [5], [6, 7]] : [[3], [5], [6]], "right");
}

for (const dir of dirs.filter((d) => !d.includes("static"))) {
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
      await exercise(model);
      assert.equal(calls, (model.chunksAfterPast ? 3 : 1) + 3 + 1);
    } finally {
      await session.release();
      await model.release();
    }
  });
}

// A static cache's calls are split by the engine (a row, or a position, at a time) and write the
// buffers in place: each ONNX Runtime run is replayed through onnxruntime-node on a copy of its
// inputs taken before it, and every output compared with what the run left in place.
for (const dir of dirs.filter((d) => d.includes("static"))) {
  const name = dir.slice(fixtures.length + 1);
  Deno.test(`${name}: every run of the C API engine gives onnxruntime-node's outputs exactly`, async () => {
    const model = await OnnxModel.load(dir);
    const session = await ortNode.InferenceSession.create(join(dir, "model.onnx"), {
      executionProviders: ["cpu"],
      graphOptimizationLevel: "all",
    });
    const run = Session.prototype.run;
    const shapes: string[] = [];
    Session.prototype.run = async function (feeds, requests, options) {
      if (!feeds.has("seqlens_k")) return run.call(this, feeds, requests, options); // the logits head
      const inputs: Record<string, ortNode.Tensor> = {};
      for (const [input, tensor] of feeds) inputs[input] = asNode(tensor);
      const result = await run.call(this, feeds, requests, options);
      const want = await session.run(inputs);
      shapes.push(feeds.get("input_ids")!.dims.join("x"));
      const seqlens = new Int32Array(feeds.get("seqlens_k")!.hostBytes().slice().buffer);
      for (const r of requests) {
        const got = r.into ?? result.get(r.name)!;
        assert.deepEqual([...got.dims], [...want[r.name].dims], `run ${shapes.length}: ${r.name} shape`);
        const spec = model.states.find((s) => r.name === s.output || r.name === `${s.output}.shared`);
        const [ours, theirs] = [floats(got), nodeFloats(want[r.name])];
        // A cache's slots after a row's last token: ours keep what an earlier run left there,
        // onnxruntime-node's fresh output does not (a run feeds a row's real tokens only).
        const kept = spec ? written(got.dims, spec.seqAxis!, seqlens) : () => true;
        const diff = maxDiff(ours.filter((_, i) => kept(i)), theirs.filter((_, i) => kept(i)));
        assert.equal(diff, 0, `run ${shapes.length}: ${r.name}`);
      }
      return result;
    };
    try {
      await exercise(model);
      // Prefill in chunks of 3 of prompts of 7 and 3: a first chunk of both rows (the short one all
      // padding), the second row by row (each row's real tokens), the last (one token) batched; three
      // decode steps batched; the scoring call (two, one and two tokens) a position at a time, the
      // second position on the two rows that have one.
      assert.deepEqual(shapes, ["2x3", "1x3", "1x2", "2x1", "2x1", "2x1", "2x1", "3x1", "1x1", "1x1"]);
    } finally {
      Session.prototype.run = run;
      await session.release();
      await model.release();
    }
  });
}

/** Whether element `i` of a cache of `dims` is a slot that the run's row holds (`seqlens[row] + 1` slots). */
function written(dims: readonly number[], seqAxis: number, seqlens: Int32Array): (i: number) => boolean {
  const inner = dims.slice(seqAxis + 1).reduce((a, b) => a * b, 1);
  const perRow = dims.slice(1).reduce((a, b) => a * b, 1);
  return (i) => Math.floor(i / inner) % dims[seqAxis] <= seqlens[Math.floor(i / perRow)];
}
