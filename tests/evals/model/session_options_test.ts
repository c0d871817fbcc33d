import assert from "node:assert/strict";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promptLogits } from "./_prompt_logits.ts";

const graph = join(fileURLToPath(new URL("../../fixtures", import.meta.url)), "llama-fused", "model.onnx");

Deno.test("KVBENCH_ORT_MEM_PATTERN=0 opens sessions without memory patterns, with the same results", async () => {
  const plain = await promptLogits(graph, [5, 6, 7]);
  process.env.KVBENCH_ORT_MEM_PATTERN = "0";
  try {
    assert.deepEqual(await promptLogits(graph, [5, 6, 7]), plain);
  } finally {
    delete process.env.KVBENCH_ORT_MEM_PATTERN;
  }
});
