import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { conformance } from "./_conformance.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

for (const family of readdirSync(fixtures).sort()) {
  const dir = join(fixtures, family);
  if (existsSync(join(dir, "reference", "cases.json"))) conformance(dir);
}
