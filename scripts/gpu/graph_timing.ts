/**
 * Where a static cache's decode step goes, with and without CUDA graphs, in one process: the
 * model's run (`OnnxModel.forward`, one token of one row rewritten at the same slot), the logits
 * head's argmax, and a whole `Stream.step` with its argmax; then the engine's own device
 * allocations and copies. The two ways alternate twice, so host noise shows as a spread.
 *
 *   deno run -A scripts/gpu/graph_timing.ts DIR [CONTEXT]
 *
 * DIR is a static-cache export with a sidecar (its `max_length` bounds a captured step); CONTEXT
 * (default 4096) is the prefilled length. Prints medians in ms.
 *
 * @module
 */

import { join } from "node:path";
import { openSession } from "../../evals/model/onnx_model.ts";
import { loadBundle } from "../../evals/model/bundle.ts";
import { Stream } from "../../evals/model/stream.ts";

const [dir, contextArg] = Deno.args;
if (!dir) {
  console.error("graph_timing: usage: deno run -A scripts/gpu/graph_timing.ts DIR [CONTEXT]");
  Deno.exit(2);
}
const context = Number(contextArg ?? 4096);
if (!Number.isInteger(context) || context < 1) {
  console.error(`graph_timing: CONTEXT must be a positive integer (got ${contextArg})`);
  Deno.exit(2);
}

function median(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)].toFixed(3);
}

async function time(cudaGraphs: boolean): Promise<string> {
  const { model } = await loadBundle(dir, "cuda", { cudaGraphs });
  try {
    const prompt = Array.from({ length: context }, (_, i) => 3 + (i * 7919) % (model.vocabSize - 3));
    const prefilled = await Stream.start(model, 1).prefill([prompt], 1024, undefined, 64);
    prefilled.logits.dispose();
    let stream = prefilled.stream;
    const forward: number[] = [];
    const head: number[] = [];
    const step: number[] = [];
    for (let i = 0; i < 60; i++) {
      const started = performance.now();
      const out = await model.forward({
        inputIds: BigInt64Array.of(9n),
        attentionMask: new BigInt64Array(0),
        positionIds: new BigInt64Array(0),
        rows: 1,
        len: 1,
        pastLen: context,
        states: stream.states,
        call: "step",
        slots: { past: [context], real: [1], logitsIndex: new BigInt64Array(1), logitsLen: 1 },
      });
      const ran = performance.now();
      await model.pick(out.logits, [{ index: 0, target: 0 }]);
      out.logits.dispose();
      if (i >= 10) {
        forward.push(ran - started);
        head.push(performance.now() - ran);
      }
    }
    for (let i = 0; i < 40; i++) {
      const started = performance.now();
      const next = await stream.step([[9]], "left");
      await next.logits.lastArgmax();
      next.logits.dispose();
      stream = next.stream;
      if (i >= 5) step.push(performance.now() - started);
    }
    stream.dispose();
    return `graphs ${model.cudaGraphs ? `on (${model.decodeGraphCount})` : "off"}: forward ${
      median(forward)
    } ms, ` +
      `head ${median(head)} ms, stream step + argmax ${median(step)} ms`;
  } finally {
    await model.release();
  }
}

for (const cudaGraphs of [false, true, false, true]) console.log(await time(cudaGraphs));

const session = openSession(join(dir, "model.onnx"), "cuda");
const source = session.empty("float16", [1, 1, 128256]);
const costs: Record<string, number[]> = { empty: [], write: [], copy: [], dispose: [] };
for (let i = 0; i < 50; i++) {
  let started = performance.now();
  const tensor = session.empty("float16", [1, 1, 128256]);
  costs.empty.push(performance.now() - started);
  started = performance.now();
  session.write(tensor, new Uint8Array(tensor.byteLength));
  costs.write.push(performance.now() - started);
  started = performance.now();
  session.copy(tensor, source);
  costs.copy.push(performance.now() - started);
  started = performance.now();
  tensor.dispose();
  costs.dispose.push(performance.now() - started);
}
source.dispose();
session.release();
console.log(
  `a 128K-logit row: ${
    Object.entries(costs).map(([name, values]) => `${name} ${median(values)} ms`).join(", ")
  }`,
);
