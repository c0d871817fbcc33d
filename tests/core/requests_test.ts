import assert from "node:assert/strict";
import { encodePair, type Encoder, lmEvalArguments, rollingWindows } from "../../core/requests.ts";

/** One token per character (code point), BOS = 1: enough to see how text is split. */
const charEncoder: Encoder = {
  encode: (text, addBos = false) => [...(addBos ? [1] : []), ...[...text].map((c) => c.codePointAt(0)!)],
  prefixTokenId: 1,
};

/** A word-level encoder where " b" merges with a preceding "a" into one token. */
const mergingEncoder: Encoder = {
  encode(text, addBos = false) {
    const ids: number[] = addBos ? [1] : [];
    for (let i = 0; i < text.length; i++) {
      if (text.startsWith("a b", i)) {
        ids.push(1000);
        i += 2;
      } else ids.push(text.charCodeAt(i));
    }
    return ids;
  },
  prefixTokenId: 1,
};

Deno.test("encodePair() moves trailing whitespace of the context into the continuation", () => {
  const pair = encodePair(charEncoder, "Q: x\nA: ", "yes", false);
  assert.deepEqual(pair.context, [..."Q: x\nA:"].map((c) => c.charCodeAt(0)));
  assert.deepEqual(pair.continuation, [..." yes"].map((c) => c.charCodeAt(0)));
});

Deno.test("encodePair() moves every trailing whitespace character, not only one", () => {
  const pair = encodePair(charEncoder, "abc \n ", "d", false);
  assert.equal(pair.context.length, 3);
  assert.deepEqual(pair.continuation, [..." \n d"].map((c) => c.charCodeAt(0)));
});

Deno.test("encodePair() splits the joint encoding at the context's token length", () => {
  // "a" + " b" encode jointly as one token; the continuation is what follows the context's length.
  const pair = encodePair(mergingEncoder, "xa", " bc", false);
  assert.deepEqual(pair.context, [120, 97]);
  assert.deepEqual(pair.continuation, [99]);
});

Deno.test("encodePair() puts BOS on the context only when asked", () => {
  assert.deepEqual(encodePair(charEncoder, "a", "b", true), { context: [1, 97], continuation: [98] });
  assert.deepEqual(encodePair(charEncoder, "a", "b", false), { context: [97], continuation: [98] });
});

Deno.test("encodePair() turns an empty context into the prefix token", () => {
  assert.deepEqual(encodePair(charEncoder, "", "ab", true), { context: [1], continuation: [97, 98] });
});

Deno.test("rollingWindows() predicts each token once, first window prefixed", () => {
  const tokens = Array.from({ length: 10 }, (_, i) => 100 + i);
  const windows = rollingWindows(tokens, 1, 4);
  assert.deepEqual(windows, [
    { context: [1], continuation: [100, 101, 102, 103] },
    { context: [103], continuation: [104, 105, 106, 107] },
    { context: [105, 106, 107], continuation: [108, 109] },
  ]);
  assert.deepEqual(windows.flatMap((w) => w.continuation), tokens);
  for (const w of windows) assert.ok(w.context.length + w.continuation.length - 1 <= 4);
});

Deno.test("rollingWindows() makes one window for a text shorter than max length", () => {
  assert.deepEqual(rollingWindows([5, 6], 1, 8), [{ context: [1], continuation: [5, 6] }]);
  assert.deepEqual(rollingWindows([], 1, 8), []);
});

Deno.test("lmEvalArguments() numbers each request as gen_args_i", () => {
  const args = lmEvalArguments([
    { kind: "loglikelihood", context: "c", continuation: " a" },
    { kind: "loglikelihood", context: "c", continuation: " b" },
  ]);
  assert.deepEqual(args, {
    gen_args_0: { arg_0: "c", arg_1: " a" },
    gen_args_1: { arg_0: "c", arg_1: " b" },
  });
});
