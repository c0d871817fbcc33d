/**
 * The token shapes of an eval's generation samples, for an anchor that feeds another engine the
 * same work: per sample, the prompt's tokens (re-encoded, with BOS) and the tokens the model
 * generated after it (the response's `tokens`).
 *
 *   deno run -A scripts/gpu/ruler_shapes.ts DB MODEL_DIR OUT.json
 *
 * Writes `{"samples": [[promptTokens, generatedTokens], …]}` (scripts/bench_torch.py --shapes).
 *
 * @module
 */

import { existsSync, writeFileSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { TextTokenizer } from "../../evals/model/tokenizer.ts";

const [path, modelDir, out] = Deno.args;
if (!path || !modelDir || !out) {
  console.error("ruler_shapes: usage: deno run -A scripts/gpu/ruler_shapes.ts DB MODEL_DIR OUT.json");
  Deno.exit(2);
}
for (const [what, p] of [["database", path], ["model directory", modelDir]]) {
  if (!existsSync(p)) {
    console.error(`ruler_shapes: the ${what} ${p} does not exist`);
    Deno.exit(2);
  }
}
const tokenizer = TextTokenizer.load(modelDir);
const instance = await DuckDBInstance.create(path, { access_mode: "READ_ONLY" });
const db = await instance.connect();
const reader = await db.runAndReadAll("SELECT requests, outputs FROM samples ORDER BY run_id, task, doc_id");
const samples: [number, number][] = [];
for (const row of reader.getRowObjects()) {
  const requests = JSON.parse(String(row.requests)) as { kind: string; context?: string }[];
  const outputs = JSON.parse(String(row.outputs)) as { tokens?: number }[];
  requests.forEach((request, i) => {
    if (request.kind !== "generate_until") return;
    const tokens = outputs[i]?.tokens;
    if (tokens === undefined) {
      console.error(
        `ruler_shapes: ${path} has a response without its token count: rerun the eval with this kvbench`,
      );
      Deno.exit(2);
    }
    samples.push([tokenizer.encode(request.context ?? "", true).length, tokens]);
  });
}
db.closeSync();
writeFileSync(out, JSON.stringify({ samples }) + "\n");
const tokens = samples.reduce((a, [p, g]) => a + p + g, 0);
console.log(`ruler_shapes: ${samples.length} samples, ${tokens} tokens -> ${out}`);
