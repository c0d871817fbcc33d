// Throwaway: where a static decode step's time goes, captured vs plain.
import { join } from "node:path";
import { OnnxModel, openSession } from "../../evals/model/onnx_model.ts";
import { Stream } from "../../evals/model/stream.ts";

const dir = Deno.args[0];
const context = Number(Deno.args[1] ?? 4096);
const sidecar = JSON.parse(Deno.readTextFileSync(join(dir, "kvbench.json")));
function median(a: number[]) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}
for (const graphs of [false, true, false, true]) {
  const model = await OnnxModel.load(dir, {
    device: "cuda",
    cudaGraphs: graphs,
    maxPositions: sidecar.max_length,
  });
  const prompt = Array.from({ length: context }, (_, i) => 3 + (i * 7919) % 100000);
  const { logits, stream } = await Stream.start(model, 1).prefill([prompt], 1024, undefined, 8);
  logits.dispose();
  const t: Record<string, number[]> = { forward: [], head: [], step: [] };
  let s = stream;
  for (let i = 0; i < 60; i++) {
    const a = performance.now();
    const out = await model.forward({
      inputIds: BigInt64Array.of(9n),
      attentionMask: new BigInt64Array(0),
      positionIds: new BigInt64Array(0),
      rows: 1,
      len: 1,
      pastLen: context,
      states: s.states,
      call: "step",
      slots: { past: [context], real: [1], logitsIndex: new BigInt64Array(1), logitsLen: 1 },
    });
    const b = performance.now();
    await model.pick(out.logits, [{ index: 0, target: 0 }]);
    const c = performance.now();
    out.logits.dispose();
    if (i >= 10) {
      t.forward.push(b - a);
      t.head.push(c - b);
    }
  }
  for (let i = 0; i < 40; i++) {
    const a = performance.now();
    const next = await s.step([[9]], "left");
    await next.logits.lastArgmax();
    next.logits.dispose();
    s = next.stream;
    if (i >= 5) t.step.push(performance.now() - a);
    if (i === 30) break;
  }
  s.dispose();
  console.log(
    `graphs ${graphs} (${model.cudaGraphs}, ${model.decodeGraphCount}): forward ${
      median(t.forward).toFixed(3)
    } ms, head ${median(t.head).toFixed(3)} ms, stream step+argmax ${median(t.step).toFixed(3)} ms`,
  );
  await model.release();
}
// Micro: the engine's own memory and copies.
const session = openSession(join(dir, "model.onnx"), "cuda");
const m: Record<string, number[]> = { empty: [], dispose: [], write: [], copy: [] };
const a0 = session.empty("float16", [1, 1, 128256]);
for (let i = 0; i < 50; i++) {
  let a = performance.now();
  const x = session.empty("float16", [1, 1, 128256]);
  m.empty.push(performance.now() - a);
  a = performance.now();
  session.write(x, new Uint8Array(x.byteLength).subarray(0, x.byteLength));
  m.write.push(performance.now() - a);
  a = performance.now();
  session.copy(x, a0);
  m.copy.push(performance.now() - a);
  a = performance.now();
  x.dispose();
  m.dispose.push(performance.now() - a);
}
console.log(Object.entries(m).map(([k, v]) => `${k} ${median(v).toFixed(3)} ms`).join(", "));
