/**
 * core/ is the floor the other layers build on (requests, errors, seeded random, task and prompting
 * types): it imports nothing of theirs, so imports run one way.
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CORE = new URL("../../core/", import.meta.url);

Deno.test("core/ imports only core/ (and npm or node modules)", () => {
  const files = readdirSync(fileURLToPath(CORE)).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length >= 7, files.join(", "));
  for (const file of files) {
    const source = readFileSync(new URL(file, CORE), "utf8");
    for (const [, spec] of source.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
      if (spec.startsWith("npm:") || spec.startsWith("node:") || !spec.startsWith(".")) continue;
      assert.ok(spec.startsWith("./") && !spec.slice(2).includes("/"), `core/${file} imports ${spec}`);
    }
  }
});

Deno.test("tasks/ and results/ build on core/ only; evals/ sits on top", () => {
  const root = new URL("../../", import.meta.url);
  const below: Record<string, string[]> = { tasks: ["core"], results: ["core"] };
  for (const [layer, allowed] of Object.entries(below)) {
    const dir = fileURLToPath(new URL(layer, root));
    const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith(".ts"));
    for (const file of files) {
      const source = readFileSync(`${dir}/${file}`, "utf8");
      for (const [, spec] of source.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)) {
        const target = new URL(spec, new URL(`${layer}/${file}`, root)).pathname.slice(
          fileURLToPath(root).length,
        );
        const top = target.split("/")[0];
        assert.ok(top === layer || allowed.includes(top), `${layer}/${file} imports ${spec} (${top}/)`);
      }
    }
  }
});
