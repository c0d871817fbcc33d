/**
 * Writes the HTML report (`DIR/index.html`) or one figure (`FILE.svg`) to disk.
 *
 * @module
 */

import { svgToPng } from "./png.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { UserError } from "../../core/errors.ts";
import type { Leaderboard, LeaderboardOptions } from "../report.ts";
import type { Store } from "../store.ts";
import { loadPageData } from "./data.ts";
import { buildFigures, type FigureName, type FigureOptions } from "./figures.ts";
import { renderFigureSvg, renderPage } from "./page.ts";

/** Writes `dir/index.html` and returns its path. */
export async function writeHtmlReport(
  store: Store,
  board: Leaderboard,
  dir: string,
  options: LeaderboardOptions & FigureOptions = {},
): Promise<string> {
  const html = await renderPage(board, await loadPageData(store, board, options), options);
  const path = join(dir, "index.html");
  write(path, html, dir);
  return path;
}

/**
 * Writes one figure as a standalone SVG file, or as a PNG when `path` ends in `.png`.
 *
 * @throws {UserError} when the figure has no data to draw.
 */
export async function writeFigureSvg(
  store: Store,
  board: Leaderboard,
  figure: FigureName,
  path: string,
  options: LeaderboardOptions & FigureOptions = {},
): Promise<void> {
  const data = await loadPageData(store, board, options);
  const chosen = buildFigures(board, data, options).find((f) => f.name === figure)!;
  const svg = await renderFigureSvg(chosen);
  if (svg === null) throw new UserError(`Cannot draw figure "${figure}": ${chosen.note}`);
  write(path, path.endsWith(".png") ? await svgToPng(svg) : svg, dirname(path));
}

function write(path: string, text: string | Uint8Array, dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, text);
  } catch (error) {
    throw new UserError(
      `Cannot write ${path}: ${(error as Error).message.split("\n")[0]}; pass another --out`,
    );
  }
}
