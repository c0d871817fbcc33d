import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { Stream } from "../../../evals/model/stream.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

for (const family of ["llama", "zebra", "dma"]) {
  Deno.test(`${family}: asking for the last logits only gives the same last logits, and fewer`, async () => {
    const model = await OnnxModel.load(join(fixtures, family));
    assert.ok(model.hasLogitsToKeep, "the fixture exports num_logits_to_keep");
    const rows = [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14]];
    const full = await Stream.start(model, 2).step(rows, "left");
    const last = await Stream.start(model, 2).step(rows, "left", true);
    assert.equal(last.logits.data.length, 2 * model.vocabSize, "one position per row came back");
    assert.equal(full.logits.data.length, 2 * 7 * model.vocabSize);
    for (const r of [0, 1]) {
      const a = full.logits.last(r);
      const b = last.logits.last(r);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5);
    }
    assert.throws(() => last.logits.at(0, 1), RangeError);
    // The state is the same either way: the next step agrees too.
    const next = await full.stream.step([[15], [16]], "left");
    const nextLast = await last.stream.step([[15], [16]], "left");
    for (const r of [0, 1]) assert.deepEqual(nextLast.logits.last(r), next.logits.last(r));
    await model.release();
  });
}

Deno.test("step() refuses last-only logits for a right-padded chunk", async () => {
  const model = await OnnxModel.load(join(fixtures, "llama"));
  await assert.rejects(() => Stream.start(model, 1).step([[5, 6]], "right", true), /right-padded/);
  await model.release();
});

Deno.test("a merged decoder gets use_cache_branch false on the first call and true once it has a past", async () => {
  const model = await OnnxModel.load(fileURLToPath(new URL("../../data/merged_decoder", import.meta.url)));
  const first = await Stream.start(model, 1).step([[5, 6]], "left");
  assert.deepEqual([...first.logits.data], [0, 0]);
  const second = await first.stream.step([[7]], "left");
  assert.deepEqual([...second.logits.data], [1]);
  assert.equal(second.stream.measureCache().tokens, 3);
  await model.release();
});

Deno.test("prefill keeps the caller's stream intact, and a disposed stream can't step", async () => {
  const model = await OnnxModel.load(join(fixtures, "llama"));
  try {
    const start = Stream.start(model, 1);
    const a = await start.prefill([[5, 6, 7, 8, 9, 10]], 2);
    assert.equal(start.measureCache().tokens, 0);
    const b = await a.stream.step([[11]], "left");
    const again = await Stream.start(model, 1).prefill([[5, 6, 7, 8, 9, 10, 11]], 2);
    const diff = Math.max(...b.logits.last(0).map((v, i) => Math.abs(v - again.logits.last(0)[i])));
    assert.ok(diff < 1e-4, `stepped after a chunked prefill differs by ${diff}`);
    a.stream.dispose();
    await assert.rejects(a.stream.step([[11]], "left"), /Cannot use a tensor after dispose\(\)/);
  } finally {
    await model.release();
  }
});

Deno.test("prefill pads a prompt to the model's key length multiple, and the logits stay", async () => {
  const plain = await OnnxModel.load(join(fixtures, "llama-fused"));
  const padded = await OnnxModel.load(join(fixtures, "llama-fused"), { keyLengthMultiple: 4 });
  try {
    const prompts = [[5, 6, 7, 8, 9, 10], [11, 12, 13]];
    for (const chunk of [0, 3]) {
      const a = await Stream.start(plain, 2).prefill(prompts, chunk);
      const b = await Stream.start(padded, 2).prefill(prompts, chunk);
      assert.equal(a.stream.pastLen, 6);
      assert.equal(b.stream.pastLen, 8, `chunk ${chunk}`);
      assert.deepEqual(b.stream.realCounts, [6, 3]);
      const next = [[20], [21]];
      const [sa, sb] = [await a.stream.step(next, "left"), await b.stream.step(next, "left")];
      for (const row of [0, 1]) {
        for (
          const [x, y] of [[a.logits.last(row), b.logits.last(row)], [
            sa.logits.last(row),
            sb.logits.last(row),
          ]]
        ) {
          const diff = Math.max(...x.map((v, i) => Math.abs(v - y[i])));
          assert.ok(diff < 1e-5, `chunk ${chunk}, row ${row}: padding moved the logits by ${diff}`);
        }
      }
      for (const out of [a, b, sa, sb]) {
        out.stream.dispose();
        out.logits.dispose();
      }
    }
  } finally {
    await plain.release();
    await padded.release();
  }
});

Deno.test("finish() returns the last positions' logits without fetching the state", async () => {
  const model = await OnnxModel.load(join(fixtures, "llama"));
  try {
    const rows = [[5, 6, 7, 8, 9], [10, 11, 12]];
    const full = await Stream.start(model, 2).step(rows, "left");
    const tail = await Stream.start(model, 2).finish(rows, "left", 2);
    assert.equal(tail.len, 2);
    for (const [r, row] of rows.entries()) {
      for (const j of [row.length - 2, row.length - 1]) {
        const diff = Math.max(...tail.at(r, j).map((v, i) => Math.abs(v - full.logits.at(r, j)[i])));
        assert.ok(diff < 1e-5, `row ${r} token ${j}: ${diff}`);
      }
      assert.throws(() => tail.at(r, row.length - 3), /only the last 2 positions were returned/);
    }
    await assert.rejects(Stream.start(model, 2).finish(rows, "right", 2), RangeError);
  } finally {
    await model.release();
  }
});
