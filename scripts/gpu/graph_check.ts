/**
 * Holds a static-cache model's decode steps captured as CUDA graphs to the same steps run plainly,
 * on the GPU (the CPU suite checks the bookkeeping without capture): two rows of different lengths,
 * the same tokens fed both ways, every step's logits compared, the buffers grown once on the way.
 *
 *   deno run -A scripts/gpu/graph_check.ts DIR [DIR…]
 *
 * Exits 1 when a model's graphs were not used or its logits differ by more than 1e-3.
 *
 * @module
 */

import { loadBundle } from "../../evals/model/bundle.ts";
import { Stream } from "../../evals/model/stream.ts";

const STEPS = 12;

async function run(
  dir: string,
  cudaGraphs: boolean,
): Promise<{ logits: Float32Array[]; graphs: number; on: boolean }> {
  const { model } = await loadBundle(dir, "cuda", { cudaGraphs });
  try {
    // A reserve of 4: the steps after it grow the buffers (new addresses, a second graph).
    let { logits, stream } = await Stream.start(model, 2).prefill(
      [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14]],
      0,
      undefined,
      4,
    );
    const seen: Float32Array[] = [];
    for (let step = 0; step < STEPS; step++) {
      seen.push(logits.last(0), logits.last(1));
      logits.dispose();
      const previous = stream;
      ({ logits, stream } = await stream.step([[20 + step], [40 + step]], "left"));
      previous.dispose();
    }
    seen.push(logits.last(0), logits.last(1));
    logits.dispose();
    stream.dispose();
    return { logits: seen, graphs: model.decodeGraphCount, on: model.cudaGraphs };
  } finally {
    await model.release();
  }
}

let failed = false;
for (const dir of Deno.args) {
  const plain = await run(dir, false);
  const captured = await run(dir, true);
  let diff = 0;
  plain.logits.forEach((a, i) =>
    a.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - captured.logits[i][j]))))
  );
  const ok = captured.on && captured.graphs >= 2 && diff <= 1e-3;
  failed ||= !ok;
  console.log(
    `${ok ? "ok  " : "FAIL"} ${dir}: graphs ${captured.on ? captured.graphs : "off"}, ` +
      `max |Δ logit| over ${plain.logits.length} positions ${diff.toExponential(2)}`,
  );
}
Deno.exit(failed ? 1 : 0);
