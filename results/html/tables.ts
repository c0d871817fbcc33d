/**
 * The small tables under figures: RULER scores and effective length under the context figure,
 * bench measurements (with peak GPU memory where sampled) under the bench figure.
 *
 * @module
 */

import type { BenchPoint } from "./data.ts";
import { escapeHtml } from "./escape.ts";
import type { ContextScore } from "./figures.ts";
import { RULER_THRESHOLD, rulerRows } from "./ruler.ts";

function table(header: string[], rows: string[][], id: string): string {
  return `<table id="${id}">
<thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>
<tbody>
${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("\n")}
</tbody>
</table>`;
}

/**
 * Each model's score (0–100) per task and length and its effective length; empty text when there
 * are no context-length results (the figure's note already says so).
 */
export function rulerTableHtml(scores: readonly ContextScore[]): string {
  const rows = rulerRows(scores);
  if (rows.length === 0) return "";
  const lengths = [...new Set(scores.map((s) => s.length))].sort((a, b) => a - b);
  const body = rows.map((r) => [
    r.model,
    r.task,
    ...lengths.map((l) => r.scores.has(l) ? r.scores.get(l)!.toFixed(1) : ""),
    r.effective === null ? "none" : String(r.effective),
  ]);
  return `<p class="note">Effective length: the longest length up to which every score exceeds ${RULER_THRESHOLD} (Llama-2-7B at 4K, RULER's threshold).</p>
${table(["model", "task", ...lengths.map(String), "effective length"], body, "ruler-table")}`;
}

/**
 * Every bench row: model, work, context, batch, tokens/s and, where any row has them, the HBM
 * fraction a decode achieved and the peak GPU MiB.
 */
export function benchTableHtml(bench: readonly BenchPoint[]): string {
  if (bench.length === 0) return "";
  const gpu = bench.some((b) => b.peakGpuBytes !== null);
  const hbm = bench.some((b) => b.bandwidthFraction !== null);
  const order = ["prefill", "decode", "score-mc"];
  const sorted = [...bench].sort((a, b) =>
    a.model.localeCompare(b.model) || order.indexOf(a.work) - order.indexOf(b.work) ||
    (a.context ?? 0) - (b.context ?? 0) || a.batch - b.batch
  );
  const body = sorted.map((b) => [
    b.model,
    b.work,
    b.context === null ? "" : String(b.context),
    String(b.batch),
    b.tokensPerSecond.toFixed(1),
    ...(hbm ? [b.bandwidthFraction === null ? "" : b.bandwidthFraction.toFixed(3)] : []),
    ...(gpu ? [b.peakGpuBytes === null ? "" : (b.peakGpuBytes / 2 ** 20).toFixed(0)] : []),
  ]);
  return table(
    [
      "model",
      "work",
      "context",
      "batch",
      "tokens/s",
      ...(hbm ? ["HBM fraction"] : []),
      ...(gpu ? ["peak GPU MiB"] : []),
    ],
    body,
    "bench-table",
  );
}
