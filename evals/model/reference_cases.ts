/**
 * Runs an export's PyTorch reference cases (`<dir>/reference/cases.json`, written by
 * scripts/families/reference.py) through the harness's runner and reports the worst logit
 * difference per case: the parity check behind the tests and `deno task parity`.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { OnnxModel } from "./onnx_model.ts";
import { Stream } from "./stream.ts";

interface ArrayRef {
  file: string;
  shape: number[];
}

/** The cases file's shape. */
export interface ReferenceCases {
  prefill: { input_ids: number[][]; logits: ArrayRef };
  decode: { prompt_ids: number[][]; step_ids: number[]; prefill_logits: ArrayRef; steps: ArrayRef[] };
  batch: { lengths: number[]; input_ids: number[][]; logits: ArrayRef };
}

/** Worst |Δlogit| per case: a prefill, prefill + decode steps, a left-padded batch. */
export interface CaseDeltas {
  prefill: number;
  decode: number;
  batch: number;
}

/** Whether `dir` carries reference cases. */
export function hasReferenceCases(dir: string): boolean {
  return existsSync(join(dir, "reference", "cases.json"));
}

/** Reads `dir/reference/cases.json`. */
export function readCases(dir: string): ReferenceCases {
  return JSON.parse(readFileSync(join(dir, "reference", "cases.json"), "utf8"));
}

function readArray(dir: string, ref: ArrayRef): Float32Array {
  const bytes = readFileSync(join(dir, "reference", ref.file));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function worst(a: Float32Array, b: Float32Array, bStart: number): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[bStart + i]);
    // NaN must fail a comparison, not vanish in Math.max.
    if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
  }
  return max;
}

/** Runs the three cases on `model` and compares with the PyTorch logits stored in `dir`. */
export async function compareWithReference(model: OnnxModel, dir: string): Promise<CaseDeltas> {
  const cases = readCases(dir);
  const v = model.vocabSize;

  const ids = cases.prefill.input_ids[0];
  const pre = await Stream.start(model, 1).step([ids], "left");
  const preRef = readArray(dir, cases.prefill.logits);
  let prefill = 0;
  for (let j = 0; j < ids.length; j++) prefill = Math.max(prefill, worst(pre.logits.at(0, j), preRef, j * v));
  pre.logits.dispose();
  pre.stream.dispose();

  const prompt = cases.decode.prompt_ids[0];
  let { logits, stream } = await Stream.start(model, 1).step([prompt], "left");
  const decRef = readArray(dir, cases.decode.prefill_logits);
  let decode = 0;
  for (let j = 0; j < prompt.length; j++) decode = Math.max(decode, worst(logits.at(0, j), decRef, j * v));
  for (const [k, token] of cases.decode.step_ids.entries()) {
    logits.dispose();
    const previous = stream;
    ({ logits, stream } = await stream.step([[token]], "left"));
    previous.dispose();
    decode = Math.max(decode, worst(logits.at(0, 0), readArray(dir, cases.decode.steps[k]), 0));
  }
  logits.dispose();
  stream.dispose();

  const width = cases.batch.input_ids[0].length;
  const rows = cases.batch.lengths.map((n, r) => cases.batch.input_ids[r].slice(width - n));
  const out = await Stream.start(model, rows.length).step(rows, "left");
  const batchRef = readArray(dir, cases.batch.logits);
  let batch = 0;
  rows.forEach((row, r) => {
    for (let j = 0; j < row.length; j++) {
      batch = Math.max(batch, worst(out.logits.at(r, j), batchRef, (r * width + width - row.length + j) * v));
    }
  });
  out.logits.dispose();
  out.stream.dispose();
  return { prefill, decode, batch };
}
