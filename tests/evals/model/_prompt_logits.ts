/**
 * One prompt through a tiny llama graph of the dynamic contract (the fixtures' fused form), in a
 * session of its own: for tests of how sessions are opened.
 *
 * @module
 */

import { Session, type SessionOptions } from "../../../evals/model/ort/session.ts";
import { readFloat32, Tensor } from "../../../evals/model/ort/tensor.ts";

/** The logits of `tokens` (positions 0…) through the graph at `path`, with an empty past. */
export async function promptLogits(
  path: string,
  tokens: number[],
  options: Partial<SessionOptions> = {},
): Promise<Float32Array> {
  const session = Session.open(path, { device: "cpu", intraOpThreads: 1, ...options });
  const ints = (values: number[]) =>
    Tensor.fromHost("int64", BigInt64Array.from(values, BigInt), [1, values.length]);
  const feeds = new Map<string, Tensor>([
    ["input_ids", ints(tokens)],
    ["attention_mask", ints(tokens.map(() => 1))],
    ["position_ids", ints(tokens.map((_, i) => i))],
    ["num_logits_to_keep", Tensor.fromHost("int64", BigInt64Array.of(0n), [])],
  ]);
  for (const input of session.inputs.filter((i) => i.name.startsWith("past_"))) {
    const dims = input.shape.map((d) => (typeof d === "number" ? d : 0));
    dims[0] = 1;
    feeds.set(input.name, Tensor.fromHost("float32", new Float32Array(0), dims));
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
