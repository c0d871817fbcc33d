import assert from "node:assert/strict";
import { renderHeatmap } from "../../results/report.ts";

Deno.test("renderHeatmap() draws depth rows × length columns with shades", () => {
  const text = renderHeatmap({
    model: "m",
    task: "niah",
    metric: "recall",
    depths: [0, 100],
    lengths: [1000, 2000],
    values: [[1, 0.5], [0, null]],
  });
  const lines = text.trim().split("\n");
  assert.match(lines[0], /^m niah\/recall/);
  assert.match(lines[1], /depth % │\s+1000\s+2000/);
  assert.match(lines[3], /^\s+0 │\s+█1\.00\s+▒0\.50$/);
  assert.match(lines[4], /^\s+100 │\s+ 0\.00\s*$/);
});

Deno.test("renderHeatmap() scales RULER's 0–100 scores to 0–1", () => {
  const text = renderHeatmap({
    model: "m",
    task: "t",
    metric: "score",
    depths: [50],
    lengths: [4096],
    values: [[75]],
  });
  assert.match(text, /▓0\.75/);
});
