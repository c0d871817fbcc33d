import assert from "node:assert/strict";
import {
  pyCapitalize,
  pyLen,
  pyLstrip,
  pyRstrip,
  pySplitWhitespace,
  pyStrip,
} from "../../core/python_text.ts";

// Expected values were printed by CPython 3.11 (`repr(t.strip())`, `t.capitalize()`, …).

Deno.test("pyStrip() strips Python's whitespace, which differs from JS trim()", () => {
  assert.equal(pyStrip("  hello \x1c\x85"), "hello");
  assert.equal(pyLstrip("  hello \x1c\x85"), "hello \x1c\x85");
  assert.equal(pyRstrip("  hello \x1c\x85"), "  hello");
  // U+FEFF is whitespace to JS but not to Python.
  assert.equal(pyStrip("\ufeff x \ufeff"), "\ufeff x \ufeff");
  assert.equal(pyStrip("a\u3000b  c\n"), "a\u3000b  c");
});

Deno.test("pyCapitalize() title-cases the first character and lower-cases the rest", () => {
  assert.equal(pyCapitalize("hELLO wORLD"), "Hello world");
  assert.equal(pyCapitalize("ǆUNGLA"), "ǅungla");
  assert.equal(pyCapitalize("ßAB"), "Ssab");
  assert.equal(pyCapitalize("ﬁNE"), "Fine");
  assert.equal(pyCapitalize("\u10d0BC"), "\u10d0bc");
  assert.equal(pyCapitalize("éCOLE"), "École");
  assert.equal(pyCapitalize(""), "");
});

Deno.test("pyLen() counts code points like Python's len()", () => {
  assert.equal(pyLen("éCOLE"), 5);
  assert.equal(pyLen("\u{1d49c}b"), 2);
  assert.equal("\u{1d49c}b".length, 3);
});

Deno.test('pySplitWhitespace() splits like re.split(r"\\s+") with empty ends', () => {
  assert.deepEqual(pySplitWhitespace(" a b "), ["", "a", "b", ""]);
  assert.deepEqual(pySplitWhitespace("a\u3000b  c\n"), ["a", "b", "c", ""]);
  assert.deepEqual(pySplitWhitespace("\ufeff x \ufeff"), ["\ufeff", "x", "\ufeff"]);
  assert.deepEqual(pySplitWhitespace(""), [""]);
});
