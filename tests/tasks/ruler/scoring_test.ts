import assert from "node:assert/strict";
import {
  postprocess,
  rulerScore,
  scoreSample,
  stringMatchAll,
  stringMatchPart,
} from "../../../tasks/ruler/_scoring.ts";

Deno.test("postprocess strips, turns control characters into newlines, and strips again", () => {
  assert.equal(postprocess("  \n 1234567.\t\x07end \x1f "), "1234567.\n\nend");
  assert.equal(postprocess("\x00\x01 "), "");
  assert.equal(postprocess("\u3000answer\u00a0"), "answer", "Python's strip removes Unicode spaces");
});

Deno.test("string_match_all counts the fraction of references found, case-insensitively, ×100", () => {
  assert.equal(stringMatchAll("The numbers are 111 and 222.", ["111", "222", "333", "444"]), 50);
  assert.equal(stringMatchAll("APPLE-tree", ["apple-TREE"]), 100);
  assert.equal(stringMatchAll("nothing", ["x"]), 0);
  assert.throws(() => stringMatchAll("x", []), /without references/);
});

Deno.test("string_match_part is 100 when any reference is found", () => {
  assert.equal(stringMatchPart("It was Denver.", ["Denver Broncos", "denver"]), 100);
  assert.equal(stringMatchPart("It was Carolina.", ["Denver Broncos", "Denver"]), 0);
});

Deno.test("rulerScore is RULER's metric_fn: mean over samples ×100, rounded to 2 decimals", () => {
  const preds = ["a b", "a", "", "c"];
  const refs = [["a", "b"], ["a", "b", "c"], ["a"], ["c", "d"]];
  // string_match_all: (1 + 1/3 + 0 + 1/2) / 4 * 100 = 45.8333…
  assert.equal(rulerScore("string_match_all", preds, refs), 45.83);
  // string_match_part: (1 + 1 + 0 + 1) / 4 * 100
  assert.equal(rulerScore("string_match_part", preds, refs), 75);
  assert.equal(rulerScore("string_match_all", ["x"], [["x", "y", "z"]]), 33.33);
  assert.equal(rulerScore("string_match_all", ["x y"], [["x", "y", "z"]]), 66.67);
});

Deno.test("the mean of per-sample scores is RULER's score before rounding", () => {
  const raw = [" 1. a 2. b", "\nb\n", "a, b, c"];
  const refs = [["a", "b", "c"], ["b", "c"], ["c"]];
  const mean = raw.reduce((s, r, i) => s + scoreSample("string_match_all", r, refs[i]), 0) / raw.length;
  assert.equal(Math.round(mean * 100) / 100, rulerScore("string_match_all", raw.map(postprocess), refs));
});
