/**
 * The parity suite every family fixture runs: the harness's runner against the PyTorch
 * reference outputs stored beside the fixture (tests/fixtures/<family>/reference/).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { type CaseDeltas, compareWithReference } from "../../../evals/model/reference_cases.ts";
import { Stream } from "../../../evals/model/stream.ts";

/** Registers the parity tests for the fixture in `dir`. */
export function conformance(dir: string, tolerance = 1e-4): void {
  const family = dir.split("/").at(-1);
  let model: OnnxModel | null = null;
  let deltas: Promise<CaseDeltas> | null = null;
  const load = async () => (model ??= await OnnxModel.load(dir));
  const compare = async () => await (deltas ??= load().then((m) => compareWithReference(m, dir)));

  Deno.test(`${family}: prefill logits match PyTorch within ${tolerance}`, async () => {
    const { prefill } = await compare();
    assert.ok(prefill <= tolerance, `max |Δlogit| ${prefill}`);
  });

  Deno.test(`${family}: prefill then 8 decode steps match PyTorch within ${tolerance}`, async () => {
    const { decode } = await compare();
    assert.ok(decode <= tolerance, `max |Δlogit| ${decode}`);
  });

  Deno.test(`${family}: a left-padded batch of 3 lengths matches PyTorch within ${tolerance}`, async () => {
    const { batch } = await compare();
    assert.ok(batch <= tolerance, `max |Δlogit| ${batch}`);
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
