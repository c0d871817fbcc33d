import assert from "node:assert/strict";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Session } from "../../../evals/model/ort/session.ts";
import { readFloat32, Tensor } from "../../../evals/model/ort/tensor.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

/** The logits of three tokens through the llama-fused fixture, in a session opened as the env says. */
async function logits(): Promise<Float32Array> {
  const session = Session.open(join(fixtures, "llama-fused", "model.onnx"), {
    device: "cpu",
    intraOpThreads: 1,
  });
  const ints = (values: number[]) =>
    Tensor.fromHost("int64", BigInt64Array.from(values, BigInt), [1, values.length]);
  const feeds = new Map<string, Tensor>([
    ["input_ids", ints([5, 6, 7])],
    ["attention_mask", ints([1, 1, 1])],
    ["position_ids", ints([0, 1, 2])],
    ["num_logits_to_keep", Tensor.fromHost("int64", BigInt64Array.of(0n), [])],
  ]);
  for (const input of session.inputs.filter((i) => i.name.startsWith("past_"))) {
    feeds.set(input.name, Tensor.fromHost("float32", new Float32Array(0), [1, 2, 0, 16]));
  }
  try {
    const out = await session.run(feeds, [{ name: "logits", where: "host" }]);
    const values = readFloat32(out.get("logits")!);
    out.get("logits")!.dispose();
    return values;
  } finally {
    for (const t of feeds.values()) t.dispose();
    session.release();
  }
}

Deno.test("KVBENCH_ORT_MEM_PATTERN=0 opens sessions without memory patterns, with the same results", async () => {
  const plain = await logits();
  process.env.KVBENCH_ORT_MEM_PATTERN = "0";
  try {
    assert.deepEqual(await logits(), plain);
  } finally {
    delete process.env.KVBENCH_ORT_MEM_PATTERN;
  }
});
