/**
 * The parity suite every family fixture runs: the harness's runner against the PyTorch
 * reference outputs stored beside the fixture (tests/fixtures/<family>/reference/).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { Stream } from "../../../evals/model/stream.ts";

interface ArrayRef {
  file: string;
  shape: number[];
}

interface Cases {
  prefill: { input_ids: number[][]; logits: ArrayRef };
  decode: { prompt_ids: number[][]; step_ids: number[]; prefill_logits: ArrayRef; steps: ArrayRef[] };
  batch: { lengths: number[]; input_ids: number[][]; logits: ArrayRef };
}

/** Reads a reference array. */
export function readArray(dir: string, ref: ArrayRef): Float32Array {
  const bytes = readFileSync(join(dir, "reference", ref.file));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** Largest |a − b| over `len` values starting at the given offsets. */
export function maxAbsDiff(
  a: Float32Array,
  aStart: number,
  b: Float32Array,
  bStart: number,
  len: number,
): number {
  let worst = 0;
  for (let i = 0; i < len; i++) worst = Math.max(worst, Math.abs(a[aStart + i] - b[bStart + i]));
  return worst;
}

/** Registers the parity tests for the fixture in `dir`. */
export function conformance(dir: string, tolerance = 1e-4): void {
  const family = dir.split("/").at(-1);
  const cases = JSON.parse(readFileSync(join(dir, "reference", "cases.json"), "utf8")) as Cases;
  let model: OnnxModel | null = null;
  const load = async () => (model ??= await OnnxModel.load(dir));

  Deno.test(`${family}: prefill logits match PyTorch within ${tolerance}`, async () => {
    const m = await load();
    const ids = cases.prefill.input_ids[0];
    const { logits } = await Stream.start(m, 1).step([ids], "left");
    const ref = readArray(dir, cases.prefill.logits);
    const v = m.vocabSize;
    let worst = 0;
    for (let j = 0; j < ids.length; j++) {
      worst = Math.max(worst, maxAbsDiff(logits.at(0, j), 0, ref, j * v, v));
    }
    assert.ok(worst <= tolerance, `max |Δlogit| ${worst}`);
  });

  Deno.test(`${family}: prefill then 8 decode steps match PyTorch within ${tolerance}`, async () => {
    const m = await load();
    const v = m.vocabSize;
    const prompt = cases.decode.prompt_ids[0];
    let { logits, stream } = await Stream.start(m, 1).step([prompt], "left");
    const ref = readArray(dir, cases.decode.prefill_logits);
    let worst = 0;
    for (let j = 0; j < prompt.length; j++) {
      worst = Math.max(worst, maxAbsDiff(logits.at(0, j), 0, ref, j * v, v));
    }
    for (const [k, token] of cases.decode.step_ids.entries()) {
      ({ logits, stream } = await stream.step([[token]], "left"));
      worst = Math.max(worst, maxAbsDiff(logits.at(0, 0), 0, readArray(dir, cases.decode.steps[k]), 0, v));
    }
    assert.ok(worst <= tolerance, `max |Δlogit| ${worst}`);
  });

  Deno.test(`${family}: a left-padded batch of 3 lengths matches PyTorch within ${tolerance}`, async () => {
    const m = await load();
    const v = m.vocabSize;
    const width = cases.batch.input_ids[0].length;
    const rows = cases.batch.lengths.map((n, r) => cases.batch.input_ids[r].slice(width - n));
    const { logits } = await Stream.start(m, rows.length).step(rows, "left");
    const ref = readArray(dir, cases.batch.logits);
    let worst = 0;
    rows.forEach((row, r) => {
      for (let j = 0; j < row.length; j++) {
        const refStart = (r * width + width - row.length + j) * v;
        worst = Math.max(worst, maxAbsDiff(logits.at(r, j), 0, ref, refStart, v));
      }
    });
    assert.ok(worst <= tolerance, `max |Δlogit| ${worst}`);
  });

  Deno.test(`${family}: measured cache bytes/token equal the sidecar's formula`, async () => {
    const m = await load();
    const sidecar = JSON.parse(readFileSync(join(dir, "kvbench.json"), "utf8"));
    const { stream } = await Stream.start(m, 2).step([[5, 6, 7, 8], [9, 10, 11, 12]], "left");
    const short = stream.measureCache();
    assert.equal(short.bytesPerToken, sidecar.cache.bytes_per_token);
    assert.equal(short.fixedBytes, sidecar.cache.fixed_state_bytes);
    const { stream: longer } = await stream.step(
      [[13, 14, 15, 16, 17, 18], [19, 20, 21, 22, 23, 24]],
      "right",
    );
    const long = longer.measureCache();
    assert.equal(long.bytesPerToken, sidecar.cache.bytes_per_token);
    assert.equal(long.fixedBytes, short.fixedBytes, "fixed state does not grow with length");
  });
}
