import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BlockCopy, copyOnHost, planRowCopies, rowRuns } from "../../../evals/model/ort/row_copies.ts";
import { Session } from "../../../evals/model/ort/session.ts";
import { Tensor } from "../../../evals/model/ort/tensor.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

Deno.test("row copies go in runs that follow each other in source and result", () => {
  assert.deepEqual(rowRuns([0, 1, 2, 2, 3, 0]), [
    { from: 0, to: 0, rows: 3 },
    { from: 2, to: 3, rows: 2 },
    { from: 0, to: 5, rows: 1 },
  ]);
  assert.deepEqual(rowRuns([1, 1]), [{ from: 1, to: 0, rows: 1 }, { from: 1, to: 1, rows: 1 }]);
  assert.deepEqual(rowRuns([]), []);
});

/** Runs `copies` on a flat memory whose addresses are offsets into `memory`. */
function simulate(memory: Uint8Array, copies: readonly BlockCopy[]): void {
  for (const c of copies) {
    if (c.height > 1) assert.ok(c.srcPitch >= c.width && c.dstPitch >= c.width, "a pitch below the width");
    for (let k = 0; k < c.height; k++) {
      const src = Number(c.src) + k * c.srcPitch;
      memory.copyWithin(Number(c.dst) + k * c.dstPitch, src, src + c.width);
    }
  }
}

/**
 * `count` source tensors of `rows` rows of `rowBytes`, starting at `at` and `stride` apart, filled
 * with distinct bytes, and their results (of `resultRows` rows) from `resultsAt`, `resultStride` apart.
 */
function layout(
  count: number,
  rows: number,
  rowBytes: number,
  stride: number,
  resultStride: number,
  resultRows: number,
) {
  const resultsAt = count * stride;
  const memory = new Uint8Array(resultsAt + count * resultStride);
  for (let i = 0; i < resultsAt; i++) memory[i] = (i * 7 + 3) % 251;
  const sources = Array.from({ length: count }, (_, i) => ({ address: BigInt(i * stride), rowBytes, rows }));
  const results = Array.from({ length: count }, (_, i) => BigInt(resultsAt + i * resultStride));
  assert.ok(resultStride >= resultRows * rowBytes);
  return { memory, sources, results };
}

/** What gathering rows `indices` of each source must give, tensor by tensor. */
function expected(memory: Uint8Array, sources: { address: bigint; rowBytes: number }[], indices: number[]) {
  return sources.map((s) =>
    indices.flatMap((
      row,
    ) => [
      ...memory.subarray(Number(s.address) + row * s.rowBytes, Number(s.address) + (row + 1) * s.rowBytes),
    ])
  );
}

Deno.test("tensors at a constant stride share one copy per run of rows", () => {
  const indices = [0, 0, 0, 1, 1, 2, 2, 2];
  const { memory, sources, results } = layout(32, 3, 16, 64, 128, indices.length);
  const copies = planRowCopies(sources, results, indices, 1 << 20);
  // Runs: 0 | 0 | 0,1 | 1,2 | 2 | 2 — six copies for all 32 tensors.
  assert.equal(copies.length, rowRuns(indices).length);
  assert.ok(copies.every((c) => c.height === 32 && c.srcPitch === 64 && c.dstPitch === 128));
  const want = expected(memory, sources, indices);
  simulate(memory, copies);
  results.forEach((at, i) =>
    assert.deepEqual(
      [...memory.subarray(Number(at), Number(at) + indices.length * 16)],
      want[i],
      `tensor ${i}`,
    )
  );
});

Deno.test("tensors that break the stride, differ in row size or pass the pitch limit are copied apart", () => {
  const indices = [1, 0, 1];
  const { memory, sources, results } = layout(6, 2, 8, 32, 48, indices.length);
  // Tensor 3 sits elsewhere in the source (the stride breaks there), tensor 5 has another row size.
  sources[3] = { ...sources[3], address: sources[3].address + 8n };
  sources[5] = { ...sources[5], rowBytes: 4, rows: 4 };
  const want = expected(memory, sources, indices);
  const copies = planRowCopies(sources, results, indices, 1 << 20);
  // Two runs of rows (1 | 0, 1) for each of: tensors 0–2, tensors 3–4 (a stride of their own), tensor 5.
  assert.deepEqual(copies.map((c) => c.height), [3, 3, 2, 2, 1, 1]);
  simulate(memory, copies);
  results.forEach((at, i) =>
    assert.deepEqual(
      [...memory.subarray(Number(at), Number(at) + indices.length * sources[i].rowBytes)],
      want[i],
      `tensor ${i}`,
    )
  );
  // A pitch over the limit: every tensor on its own.
  assert.ok(planRowCopies(sources, results, indices, 40).every((c) => c.height === 1));
  assert.throws(() => planRowCopies(sources, results, [2], 1 << 20), /Cannot copy row 2 of a 2-row tensor/);
});

Deno.test("a session gathers rows of tensors that share a block, and of tensors that do not", () => {
  const session = Session.open(join(fixtures, "llama", "model.onnx"), {
    device: "cpu",
    intraOpThreads: 1,
    tf32: false,
  });
  try {
    const dims = [3, 2, 5, 4];
    const shared = session.zerosMany([0, 1, 2].map(() => ({ type: "float32" as const, dims })));
    const values = (t: number) => Float32Array.from({ length: 120 }, (_, i) => t * 1000 + i);
    shared.forEach((tensor, t) => session.write(tensor, values(t)));
    const loose = Tensor.fromHost("float32", values(9), dims);
    const indices = [2, 2, 0, 1];
    const gathered = session.gatherRows([...shared, loose], indices);
    [0, 1, 2, 9].forEach((t, i) => {
      const got = new Float32Array(gathered[i].hostBytes().buffer);
      const want = indices.flatMap((row) => [...values(t).subarray(row * 40, (row + 1) * 40)]);
      assert.deepEqual([...got], want, `tensor ${t}`);
    });
    for (const t of [...shared, loose, ...gathered]) t.dispose();
  } finally {
    session.release();
  }
});

Deno.test("host copies move every block of a pitched copy", () => {
  const memory = new Uint8Array(64).map((_, i) => i);
  const at = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(memory)));
  copyOnHost([{ dst: at + 32n, src: at, width: 3, height: 2, dstPitch: 8, srcPitch: 4 }]);
  assert.deepEqual([...memory.subarray(32, 43)], [0, 1, 2, 32 + 3, 32 + 4, 32 + 5, 32 + 6, 32 + 7, 4, 5, 6]);
});
