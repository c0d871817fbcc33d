import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../core/errors.ts";
import { readRows } from "../../../tasks/data/read.ts";
import { tempDir } from "../_fixtures.ts";

const ZIP = new URL("./fixtures/pqal.zip", import.meta.url).pathname;

Deno.test("readRows() keeps a keyed JSON object's file order, where JSON.parse sorts integer-like keys", async () => {
  const file = join(tempDir(), "keyed.json");
  writeFileSync(file, '{"300": {"q": "c"}, "20": {"q": "b"}, "1": {"q": "a"}}');
  assert.deepEqual(Object.keys(JSON.parse('{"300": 1, "20": 2}')), ["20", "300"]);
  const rows = await readRows(file, { path: "keyed.json", format: "json", keyed: true });
  assert.deepEqual(rows, [{ q: "c" }, { q: "b" }, { q: "a" }]);
});

Deno.test("readRows() reads a keyed JSON member of a zip archive", async () => {
  const rows = await readRows(ZIP, {
    path: "pqal.zip",
    format: "json",
    member: "pqal_fold0/train_set.json",
    keyed: true,
  });
  assert.deepEqual(rows.map((r) => r.QUESTION), [
    "Do bicycle helmets reduce head injuries?",
    "Does chewing gum improve memory?",
  ]);
});

Deno.test("readRows() reads JSON lines, JSON arrays and CSV without guessing types from strings", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "a.jsonl"), '{"text": "2019-01-02", "n": 1}\n\n{"text": "x", "n": 2}\n');
  assert.deepEqual(await readRows(join(dir, "a.jsonl"), { path: "a.jsonl", format: "jsonl" }), [
    { text: "2019-01-02", n: 1 },
    { text: "x", n: 2 },
  ]);
  writeFileSync(join(dir, "b.json"), '[{"k": "007"}, {"k": "b"}]');
  assert.deepEqual(await readRows(join(dir, "b.json"), { path: "b.json", format: "json" }), [{ k: "007" }, {
    k: "b",
  }]);
  writeFileSync(join(dir, "c.csv"), "k,v\n007,2020-02-02\n");
  assert.deepEqual(await readRows(join(dir, "c.csv"), { path: "c.csv", format: "csv" }), [{
    k: "007",
    v: "2020-02-02",
  }]);
});

Deno.test("readRows() names the file it cannot read", async () => {
  const file = join(tempDir(), "broken.parquet");
  writeFileSync(file, "not parquet at all");
  await assert.rejects(
    readRows(file, { path: "broken.parquet", format: "parquet" }),
    (e) => e instanceof UserError && e.message.startsWith(`Cannot read ${file} as parquet: `),
  );
});
