import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hasReferenceCases } from "../../../evals/model/reference_cases.ts";
import { conformance } from "./_conformance.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

for (const family of readdirSync(fixtures).sort()) {
  const dir = join(fixtures, family);
  if (!hasReferenceCases(dir)) continue;
  // A float16 fixture stores its states and logits in fp16 (~2e-3 off the fp32 reference on CPU);
  // one whose linear layers multiply in fp16 also rounds their inputs (~6e-3).
  const sidecar = JSON.parse(readFileSync(join(dir, "kvbench.json"), "utf8"));
  const tolerance = sidecar.matmul_dtype === "float16" ? 1e-2 : sidecar.dtype === "float16" ? 5e-3 : 1e-4;
  conformance(dir, tolerance);
}
