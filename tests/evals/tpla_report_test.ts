/**
 * A TPLA export (tests/fixtures/transmla-tpla, written by scripts/make_fixtures.py) evaluated as a
 * user runs it: the run records what one device would hold per token beside what the graph held,
 * and the report shows both.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { evalMqar, ROOT, runScript } from "../_script.ts";

Deno.test("a TPLA model's per-device cache bytes are stored with its run and shown beside the total", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = join(dir, "tpla.duckdb");
    const models = ["transmla", "transmla-tpla"].map((f) => join(ROOT, "tests/fixtures", f));
    const run = await evalMqar(db, models, { kvPairs: "4", lengths: "64", limit: "4" });
    assert.equal(run.code, 0, run.stderr);
    const report = await runScript("report", ["--db", db, "--format", "json"]);
    const rows = JSON.parse(report.stdout).rows as {
      model: string;
      kvBytesPerToken: number;
      perDeviceKvBytesPerToken: number | null;
    }[];
    const plain = rows.find((r) => r.model === "tiny-transmla")!;
    const tpla = rows.find((r) => r.model === "tiny-transmla-tpla2-pca")!;
    // Two MLA layers of a 24-wide latent and an 8-wide RoPE key, float32: 2 × (24 + 8) × 4 in all,
    // 2 × (24 / 2 + 8) × 4 on each of 2 devices.
    assert.equal(tpla.kvBytesPerToken, 256);
    assert.equal(tpla.perDeviceKvBytesPerToken, 160);
    assert.equal(plain.perDeviceKvBytesPerToken, null);
    const table = await runScript("report", ["--db", db]);
    assert.match(table.stdout, /per-device KV B\/token \(TPLA\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
