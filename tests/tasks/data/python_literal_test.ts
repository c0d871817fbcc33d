import assert from "node:assert/strict";
import { parsePythonLiteral } from "../../../tasks/data/python_literal.ts";

Deno.test("parsePythonLiteral() reads repr() of a list of dicts, as RACE stores its problems", () => {
  const text = "[{'answer': 'B', 'options': ['one', \"it's two\", 'thr\\xe9e', 'a\\nb'], " +
    "'question': 'Which?'}, {'answer': 'A', 'options': [], 'question': 'The man was  _  .'}]";
  assert.deepEqual(parsePythonLiteral(text), [
    { answer: "B", options: ["one", "it's two", "thr\u00e9e", "a\nb"], question: "Which?" },
    { answer: "A", options: [], question: "The man was  _  ." },
  ]);
});

Deno.test("parsePythonLiteral() reads numbers, constants, tuples, escapes and joined strings", () => {
  assert.deepEqual(parsePythonLiteral("(1, -2.5, 1e3, True, False, None,)"), [
    1,
    -2.5,
    1000,
    true,
    false,
    null,
  ]);
  assert.equal(parsePythonLiteral("'\\u00e9\\U0001F600\\101\\q' \"x\""), "\u00e9\u{1F600}A\\qx");
  assert.equal(parsePythonLiteral("r'a\\nb'"), "a\\nb");
  assert.equal(parsePythonLiteral("'''two\nlines'''"), "two\nlines");
  assert.deepEqual(parsePythonLiteral("{1: 'a'}"), { "1": "a" });
});

Deno.test("parsePythonLiteral() names the offset of what it cannot read", () => {
  assert.throws(() => parsePythonLiteral("[1, 2"), /offset 5/);
  assert.throws(() => parsePythonLiteral("[f(x)]"), SyntaxError);
  assert.throws(() => parsePythonLiteral("'a' b"), /unexpected text/);
});
