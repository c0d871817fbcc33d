/**
 * `deno task report --format html`: one self-contained page — figures inline as SVG, the
 * leaderboard as an HTML table sortable by its headers, styles and that one small script inline,
 * no URL, so it opens from disk and makes no network request.
 *
 * @module
 */

import { boardColumns, type Leaderboard } from "../report.ts";
import type { PageData, Provenance } from "./data.ts";
import { escapeHtml } from "./escape.ts";
import { buildFigures, contextScores, type Figure, type FigureOptions } from "./figures.ts";
import { heatmapFigure } from "./heatmap.ts";
import { SORT_SCRIPT } from "./sort.ts";
import { inlineSvg, renderSvg } from "./svg.ts";
import { benchTableHtml, rulerTableHtml } from "./tables.ts";

export { escapeHtml };

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
figure { margin: 1rem 0; } figcaption, .note { color: #555; font-size: 0.9rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
td.model { text-decoration: underline dotted; cursor: help; }
#leaderboard th { cursor: pointer; user-select: none; }
#leaderboard th[aria-sort=ascending]::after { content: " ▲"; }
#leaderboard th[aria-sort=descending]::after { content: " ▼"; }
`;

/** Options of the page. */
export interface PageOptions extends FigureOptions {
  /** The page's heading and title. */
  title?: string;
}

/** Renders the whole page: every figure with data (a one-line note for each without), then the table. */
export async function renderPage(
  board: Leaderboard,
  data: PageData,
  options: PageOptions = {},
): Promise<string> {
  const title = options.title ?? "kvbench report";
  const figures = buildFigures(board, data, options);
  const sections: string[] = [];
  // Tables (and the needle heatmaps) that belong under a figure, inside its section.
  const after: Partial<Record<Figure["name"], string>> = {
    context: rulerTableHtml(contextScores(board)) + await heatmapHtml(board),
    bench: benchTableHtml(data.bench),
  };
  for (const figure of figures) sections.push(await figureHtml(figure, after[figure.name] ?? ""));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${sections.join("\n")}
<section id="leaderboard">
<h2>Leaderboard</h2>
${tableHtml(board, data)}
</section>
<script>${SORT_SCRIPT}</script>
</body>
</html>
`;
}

/** The needle heatmaps as a figure of their own; empty text (no note) when no result has a depth. */
async function heatmapHtml(board: Leaderboard): Promise<string> {
  const figure = heatmapFigure(board.heatmaps);
  if (figure === null) return "";
  return `\n<figure id="needle-heatmap"><h3>${escapeHtml(figure.title)}</h3>\n${
    inlineSvg(await renderSvg(figure.spec))
  }\n<figcaption>${escapeHtml(figure.note)}</figcaption></figure>`;
}

async function figureHtml(figure: Figure, after: string): Promise<string> {
  const heading = `<h2>${escapeHtml(figure.title)}</h2>`;
  if (figure.spec === null) {
    return `<section id="${figure.name}">${heading}\n<p class="note">${
      escapeHtml(figure.note)
    }</p></section>`;
  }
  const svg = inlineSvg(await renderSvg(figure.spec));
  return `<section id="${figure.name}">${heading}\n<figure>${svg}\n<figcaption>${
    escapeHtml(figure.note)
  }</figcaption></figure>${after ? `\n${after}` : ""}</section>`;
}

/**
 * A row's tooltip: its runs, model sha256, kvbench commit, data files' sha256 ("none" when its runs
 * read no data file), ONNX Runtime and Deno versions, then each run's start and flags — what it
 * takes to tell whether two rows are comparable and to re-run one.
 */
export function provenanceTip(p: Provenance): string {
  return [
    `runs ${p.runs.join(", ")}`,
    `model sha256 ${p.modelSha256.join(", ")}`,
    `kvbench commit ${p.kvbenchCommits.join(", ")}`,
    `data sha256 ${p.dataSha256.length > 0 ? p.dataSha256.join(", ") : "none"}`,
    `ONNX Runtime ${p.ortVersions.join(", ")}`,
    `Deno ${p.denoVersions.join(", ")}`,
    ...p.runInfo.map((r) => `run ${r.run} started ${r.startedAt}, flags ${r.flags}`),
  ].join("\n");
}

/** The leaderboard table; each model's name has a tooltip with its provenance ({@linkcode provenanceTip}). */
export function tableHtml(board: Leaderboard, data: PageData): string {
  const columns = boardColumns(
    board,
    board.baseline ? `compression × (vs ${board.baseline})` : "compression ×",
    { formulaColumn: false },
  );
  const header = ["model", "family", ...columns.header];
  const rows = board.rows.map((r) => {
    const p = data.provenance[r.model];
    const tip = p ? provenanceTip(p) : `runs ${r.runs.join(", ")}`;
    const cells = columns.cells(r);
    // How the model got its cache, and the size its config promises, as the family's tooltip: the
    // rows come grouped by it, and a column of its own would not fit the page.
    const cache = `cache: ${r.cacheKind}` +
      (r.kvFormula ? `; KV bytes/token by its config: ${r.kvFormula}` : "");
    return `<tr><td class="model" title="${escapeHtml(tip)}">${escapeHtml(r.model)}</td><td title="${
      escapeHtml(cache)
    }">${escapeHtml(r.family ?? "")}</td>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`;
  });
  return `<table>
<thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
}

/** Renders one figure as a standalone SVG file, or null when it has no data. */
export async function renderFigureSvg(figure: Figure): Promise<string | null> {
  return figure.spec === null ? null : await renderSvg(figure.spec);
}
