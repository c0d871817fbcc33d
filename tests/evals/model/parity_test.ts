import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hasReferenceCases } from "../../../evals/model/reference_cases.ts";
import { conformance } from "./_conformance.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

for (const family of readdirSync(fixtures).sort()) {
  const dir = join(fixtures, family);
  if (hasReferenceCases(dir)) conformance(dir);
}
