import assert from "node:assert/strict";
import { UserError } from "../../../core/errors.ts";
import { plainValue, RowFields, sameValue } from "../../../tasks/data/rows.ts";

Deno.test("RowFields reads nested fields and names file, row and field when one is wrong", () => {
  const f = new RowFields(
    { q: "x", choices: { text: ["a", "b"] }, label: "3", n: null },
    "/d/train.parquet",
    12,
  );
  assert.deepEqual(f.strings("choices.text"), ["a", "b"]);
  assert.equal(f.int("label"), 3);
  assert.throws(
    () => f.string("n"),
    (e) =>
      e instanceof UserError &&
      e.message === 'Cannot read row 12 of /d/train.parquet: field "n" should be a string, got null',
  );
  assert.throws(
    () => f.string("missing"),
    /field "missing" should be a string, got nothing \(the field is missing\)/,
  );
  assert.throws(() => f.int("q"), /should be an integer, got "x"/);
});

Deno.test("plainValue() turns DuckDB's BIGINTs into numbers, deeply", () => {
  assert.deepEqual(plainValue({ a: 3n, b: [1n, { c: 2n }], d: "s" }), { a: 3, b: [1, { c: 2 }], d: "s" });
  assert.equal(plainValue(2n ** 60n), 2n ** 60n);
});

Deno.test("sameValue() compares like Python's ==, ignoring key order", () => {
  assert.ok(sameValue({ a: 1, b: [1, { c: "x" }] }, { b: [1, { c: "x" }], a: 1 }));
  assert.ok(!sameValue({ a: 1 }, { a: 1, b: 2 }));
  assert.ok(!sameValue([1, 2], [2, 1]));
  assert.ok(!sameValue({ a: null }, { a: {} }));
});
