import assert from "node:assert/strict";
import { fitNear, fitUnits, sweepLengths, tokenCounter } from "../../../tasks/ruler/_budget.ts";
import { context, sentence } from "./_fixtures.ts";

const tokens = tokenCounter(context(), "test");
const text = (n: number) => Array.from({ length: n }, (_, i) => sentence(i)).join(" ");

Deno.test("fitUnits finds the largest size within the budget, in few encodings", () => {
  for (const budget of [40, 300, 1000, 3000]) {
    let calls = 0;
    const fit = fitUnits(text, (t) => (calls++, tokens(t)), budget, 1)!;
    assert.ok(fit.tokens <= budget, `${fit.tokens} ≤ ${budget}`);
    assert.ok(tokens(text(fit.units + 1)) > budget, "one more sentence would not fit");
    assert.equal(fit.tokens, tokens(fit.value));
    assert.ok(calls <= 16, `${calls} encodings for budget ${budget}`);
  }
});

Deno.test("fitUnits returns null when the smallest input is over, and stops at max", () => {
  assert.equal(fitUnits(text, tokens, 3, 1), null);
  assert.equal(fitUnits(text, tokens, 100_000, 1, 7)!.units, 7);
});

Deno.test("fitNear shrinks or grows from a start to within a unit of the budget", () => {
  const budget = 777;
  const best = fitUnits(text, tokens, budget, 1)!.units;
  for (const start of [1, best - 9, best, best + 13, 4 * best]) {
    const fit = fitNear(text, tokens, budget, start, 1, 12)!;
    assert.equal(fit.units, best, `from ${start}`);
  }
  assert.equal(fitNear(text, tokens, 5, 10, 1, 12), null);
});

Deno.test("sweepLengths refuses a length asked for above the max length, and notes defaults left out", () => {
  assert.throws(
    () => sweepLengths(context({ lengths: [512, 8192], maxLength: 4096 }), [1], "t"),
    /Cannot run t at length 8192 as the model's max length is 4096: pass --lengths with values up to 4096/,
  );
  const notes: string[] = [];
  assert.deepEqual(sweepLengths(context({ lengths: null, maxLength: 4096 }), [1024, 8192], "t", notes), [
    1024,
  ]);
  assert.deepEqual(notes, ["leaves out the default lengths 8192 (above the max length 4096)"]);
  assert.throws(
    () => sweepLengths(context({ lengths: null, maxLength: 4096 }), [8192], "t"),
    /--lengths with values up to 4096/,
  );
});

Deno.test("token counts include BOS when the run adds it", () => {
  const withBos = tokenCounter(context({ addBos: true }), "t");
  const without = tokenCounter(context({ addBos: false }), "t");
  assert.equal(withBos("The sky is blue."), without("The sky is blue.") + 1);
  assert.throws(() => tokenCounter(context({ tokenizer: null }), "t"), /without the model's tokenizer/);
});
