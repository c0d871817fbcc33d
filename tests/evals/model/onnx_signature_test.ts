import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../../core/errors.ts";
import { inspectModelFile, readOnnxSignature } from "../../../evals/model/onnx_signature.ts";
import { Session } from "../../../evals/model/ort/session.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));

Deno.test("readOnnxSignature() lists the inputs ONNX Runtime asks for, without a session", () => {
  const models = ["llama", "transmla", "xecomla", "zebra", "dma", "llama-fp16"].map((f) =>
    join(root, "tests/fixtures", f, "model.onnx")
  ).concat(join(root, "tests/data/merged_decoder/model.onnx"));
  for (const path of models) {
    const session = Session.open(path, { device: "cpu", intraOpThreads: 1, tf32: false });
    try {
      const strip = (metas: readonly { name: string; type: string; shape: readonly (number | string)[] }[]) =>
        metas.map(({ name, type, shape }) => ({ name, type, shape: [...shape] }));
      const signature = readOnnxSignature(path);
      assert.deepEqual(strip(signature.inputs), strip(session.inputs), path);
      assert.deepEqual(signature.outputs.map((o) => o.name), session.outputs.map((o) => o.name), path);
      assert.deepEqual(signature.externalData, []);
    } finally {
      session.release();
    }
  }
});

// A hand-written ModelProto: token inputs, float logits [batch, seq, 16], one weight stored outside.
const varint = (n: number): number[] => {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  return [...out, n];
};
const len = (field: number, body: number[] | string): number[] => {
  const bytes = typeof body === "string" ? [...new TextEncoder().encode(body)] : body;
  return [...varint(field * 8 + 2), ...varint(bytes.length), ...bytes];
};
const num = (field: number, value: number): number[] => [...varint(field * 8), ...varint(value)];
const dim = (d: number | string) => len(1, typeof d === "number" ? num(1, d) : len(2, d));
const value = (
  name: string,
  type: number,
  dims: (number | string)[],
) => [...len(1, name), ...len(2, len(1, [...num(1, type), ...len(2, dims.flatMap(dim))]))];
const weight = [
  ...num(1, 16),
  ...num(2, 1),
  ...len(8, "w"),
  ...len(13, [...len(1, "location"), ...len(2, "w.bin")]),
  ...num(14, 1),
];
const graph = [
  ...len(2, "g"),
  ...len(5, weight),
  ...len(11, value("input_ids", 7, ["batch", "seq"])),
  ...len(11, value("attention_mask", 7, ["batch", "total"])),
  ...len(12, value("logits", 1, ["batch", "seq", 16])),
];
const MODEL = new Uint8Array([...num(1, 8), ...len(7, graph)]);

Deno.test("inspectModelFile() names an external data file that is missing, before any session opens", () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-sig-"));
  writeFileSync(join(dir, "model.onnx"), MODEL);
  assert.deepEqual(readOnnxSignature(join(dir, "model.onnx")).externalData, ["w.bin"]);
  assert.throws(
    () => inspectModelFile(dir),
    (e) => e instanceof UserError && /the weights file w\.bin it names is missing from/.test(e.message),
  );
  writeFileSync(join(dir, "w.bin"), new Uint8Array(64));
  const { vocabSize, logitsType, states, inputs } = inspectModelFile(dir);
  assert.deepEqual({ vocabSize, logitsType, states }, { vocabSize: 16, logitsType: "float32", states: [] });
  assert.deepEqual(inputs.map((i) => i.name), ["input_ids", "attention_mask"]);
});

Deno.test("inspectModelFile() lets ONNX Runtime judge a file it cannot read", () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-sig-"));
  writeFileSync(join(dir, "model.onnx"), new Uint8Array([1, 2, 3, 4, 5]));
  assert.throws(
    () => inspectModelFile(dir),
    (e) => e instanceof UserError && /Cannot load .*model\.onnx as onnxruntime rejected it/.test(e.message),
  );
});
