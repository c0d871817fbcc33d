import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findSharedWeights, loadSharedWeights } from "../../../evals/model/shared_weights.ts";
import type { Tensor } from "../../../evals/model/ort/tensor.ts";
import { promptLogits } from "./_prompt_logits.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

Deno.test("findSharedWeights() lists the large weights a static export and its scoring graph both read", () => {
  const names = (dir: string) =>
    findSharedWeights(["model.onnx", "score.onnx"].map((g) => join(fixtures, dir, g))).map((w) => w.name)
      .sort();
  assert.deepEqual(names("llama-static"), [
    "embed_tokens.weight",
    "layers.0.mlp.gate_up.weight",
    "layers.1.mlp.gate_up.weight",
    "lm_head.weight",
  ]);
  // In fp16 the MLP weights are 32 KiB: too small to bother.
  assert.deepEqual(names("llama-static-fp16"), ["embed_tokens.weight", "lm_head.weight"]);
  // MLA's scoring graph reads the static graph's weights too (its buffer layout is the static one).
  assert.deepEqual(names("xecomla-static"), [
    "embed_tokens.weight",
    "layers.0.mlp.gate_up.weight",
    "layers.1.mlp.gate_up.weight",
    "layers.2.mlp.gate_up.weight",
    "lm_head.weight",
  ]);
  // A graph whose weights sit inside it shares nothing.
  assert.deepEqual(findSharedWeights([join(fixtures, "llama-fused", "model.onnx")]), []);
  // Nor does a file that is not a graph.
  const junk = join(Deno.makeTempDirSync(), "score.onnx");
  Deno.writeFileSync(junk, new Uint8Array([1, 2, 3, 4]));
  assert.deepEqual(findSharedWeights([join(fixtures, "llama-static", "model.onnx"), junk]), []);
});

Deno.test("a session handed a weight reads that tensor in place, not the graph's own copy", async () => {
  const dir = join(fixtures, "llama-static");
  const weights = loadSharedWeights(
    findSharedWeights([join(dir, "model.onnx"), join(dir, "score.onnx")]),
    "cpu",
  );
  // One token through the scoring graph, with the embeddings as loaded and then zeroed in place (a
  // Gather reads them as they are; on CPU a MatMul packs its weight into a copy of its own at load).
  const logits = (initializers: ReadonlyMap<string, Tensor>) =>
    promptLogits(join(dir, "score.onnx"), [5], { initializers });
  try {
    const plain = await logits(new Map());
    assert.deepEqual(await logits(weights), plain, "the same bytes as the graph's");
    const embeddings = weights.get("embed_tokens.weight")!;
    new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(embeddings.dataPointer()!, embeddings.byteLength))
      .fill(0);
    assert.ok((await logits(weights)).every((v) => v === 0), "zeroed in place: every logit 0");
    assert.ok(plain.some((v) => v !== 0));
  } finally {
    for (const tensor of weights.values()) tensor.dispose();
  }
});
