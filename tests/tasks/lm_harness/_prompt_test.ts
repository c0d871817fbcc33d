import assert from "node:assert/strict";
import { buildContext, DEFAULT_FORMAT } from "../../../tasks/lm_harness/_prompt.ts";

Deno.test("buildContext() joins description, shots and the question with lm-eval's delimiters", () => {
  const format = { ...DEFAULT_FORMAT, description: "Header.\n\n" };
  assert.equal(
    buildContext(format, [{ q: "Q1?", a: "A1" }, { q: "Q2?", a: "A2" }], "Q3?"),
    "Header.\n\nQ1? A1\n\nQ2? A2\n\nQ3?",
  );
  assert.equal(buildContext(DEFAULT_FORMAT, [], "Q?"), "Q?");
});

Deno.test("buildContext() drops both delimiters of a shot whose answer is empty, as build_qa_turn does", () => {
  assert.equal(buildContext(DEFAULT_FORMAT, [{ q: "Q1", a: "" }], "Q2"), "Q1Q2");
});
