import assert from "node:assert/strict";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../../core/errors.ts";
import { hashModelFiles, inspectBundle } from "../../../evals/model/bundle.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

/** A copy of the llama-static fixture (model.onnx and its scoring graph score.onnx) to break. */
function staticCopy(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "kvbench-bundle-")), "llama-static");
  cpSync(join(fixtures, "llama-static"), dir, { recursive: true });
  return dir;
}

function setScoreGraph(dir: string, file: string): void {
  const path = join(dir, "kvbench.json");
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), score_graph: file }));
}

const refused = (pattern: RegExp) => (e: unknown) => e instanceof UserError && pattern.test(e.message);

Deno.test("inspectBundle() checks the scoring graph the sidecar names before any session opens", () => {
  const dir = staticCopy();
  assert.equal(inspectBundle(dir).vocabSize, 512);
  rmSync(join(dir, "score.onnx"));
  assert.throws(() => inspectBundle(dir), refused(/names a scoring graph score\.onnx that is not there/));
  // The static graph itself: it takes no mask or positions.
  setScoreGraph(dir, "model.onnx");
  assert.throws(
    () => inspectBundle(dir),
    refused(/is not a dynamic fused graph \(it takes seqlens_k: a static graph\)/),
  );
  // A dynamic graph of another model: MLA's states are not GQA's buffers.
  copyFileSync(join(fixtures, "xecomla-fused", "model.onnx"), join(dir, "other.onnx"));
  setScoreGraph(dir, "other.onnx");
  assert.throws(() => inspectBundle(dir), refused(/its states \(.*\) are not the static graph's/));
});

Deno.test("inspectBundle() refuses a scoring graph beside a graph without a static cache", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "kvbench-bundle-")), "llama-fused");
  cpSync(join(fixtures, "llama-fused"), dir, { recursive: true });
  copyFileSync(join(dir, "model.onnx"), join(dir, "score.onnx"));
  setScoreGraph(dir, "score.onnx");
  assert.throws(
    () => inspectBundle(dir),
    refused(/names a scoring graph score\.onnx but model\.onnx has no static cache/),
  );
});

Deno.test("hashModelFiles() covers the scoring graph the sidecar names", () => {
  const dir = staticCopy();
  const before = hashModelFiles(dir);
  const bytes = readFileSync(join(dir, "score.onnx"));
  bytes[bytes.length - 1] ^= 1;
  writeFileSync(join(dir, "score.onnx"), bytes);
  assert.notEqual(hashModelFiles(dir), before);
});
