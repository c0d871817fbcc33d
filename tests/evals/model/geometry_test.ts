/**
 * The engine's measured cache size at the papers' real cache geometry (Llama-3.2-1B based, and
 * DeepSeek-V2-Lite's and PLM-1.8B's own; fp16 states). The fixtures under tests/fixtures/geometry/ come from
 * `scripts/export_paper_shapes.py --out tests/fixtures/geometry --tiny-hidden 8`: random weights,
 * tiny hidden size, but the true layer count and per-layer cache tensors.
 *
 * One row per model; add a row (and its fixture) to cover another geometry.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { Stream } from "../../../evals/model/stream.ts";

const root = fileURLToPath(new URL("../../fixtures/geometry", import.meta.url));

interface Row {
  /** Directory under tests/fixtures/geometry/. */
  name: string;
  /** Growing state, bytes per token per sequence (fp16). */
  bytesPerToken: number;
  /** Fixed-size state, bytes per sequence. */
  fixedBytes: number;
  /** Where the number comes from. */
  source: string;
}

const ROWS: Row[] = [
  { name: "llama3.2-1b-gqa", bytesPerToken: 32_768, fixedBytes: 0, source: "GQA: 2·16·8·64·2" },
  { name: "transmla-1b", bytesPerToken: 18_432, fixedBytes: 0, source: "TransMLA: 16·(512+64)·2" },
  { name: "xecomla-1b-r128", bytesPerToken: 5_120, fixedBytes: 0, source: "X-EcoMLA 6.4×: 16·(128+32)·2" },
  { name: "xecomla-1b-r64", bytesPerToken: 3_072, fixedBytes: 0, source: "X-EcoMLA 10.6×: 16·(64+32)·2" },
  {
    name: "zebra-1b-8mla8m2",
    bytesPerToken: 2_560,
    fixedBytes: 2_293_760,
    source: "Zebra 8MLA8M2: 8·(128+32)·2; Mamba2 8·(3072·4+32·64·64)·2",
  },
  {
    name: "zebra-1b-4mla12m2",
    bytesPerToken: 1_280,
    fixedBytes: 3_440_640,
    source: "Zebra 4MLA12M2: 4·(128+32)·2; Mamba2 12·(3072·4+32·64·64)·2",
  },
  {
    name: "deepseek-v2-lite",
    bytesPerToken: 31_104,
    fixedBytes: 0,
    source: "DeepSeek-V2-Lite: 27·(512+64)·2",
  },
  { name: "plm-1.8b", bytesPerToken: 36_864, fixedBytes: 0, source: "PLM-1.8B: 32·(512+64)·2" },
];

for (const row of ROWS) {
  Deno.test(`${row.name}: the engine measures ${row.bytesPerToken} B/token (${row.source})`, async () => {
    const dir = join(root, row.name);
    const model = await OnnxModel.load(dir, { intraOpThreads: 1 });
    try {
      assert.ok(model.states.length > 0, "the graph has state tensors");
      for (const spec of model.states) assert.equal(spec.dtype, "float16", `${spec.input} is float16`);
      const { stream } = await Stream.start(model, 1).step([[5, 6, 7, 8, 9]], "left");
      const measured = stream.measureCache();
      assert.equal(measured.tokens, 5);
      assert.equal(measured.bytesPerToken, row.bytesPerToken);
      assert.equal(measured.fixedBytes, row.fixedBytes);
      // Feeding the returned float16 states back must work and keep the per-token size.
      const { stream: next } = await stream.step([[10, 11]], "left");
      assert.equal(next.measureCache().tokens, 7);
      assert.equal(next.measureCache().bytesPerToken, row.bytesPerToken);
      assert.equal(next.measureCache().fixedBytes, row.fixedBytes);
      const sidecar = JSON.parse(readFileSync(join(dir, "kvbench.json"), "utf8"));
      assert.equal(sidecar.dtype, "float16");
      assert.equal(sidecar.cache.bytes_per_token, row.bytesPerToken);
      assert.equal(sidecar.cache.fixed_state_bytes, row.fixedBytes);
    } finally {
      await model.release();
    }
  });
}
