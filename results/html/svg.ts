/**
 * Renders a Vega-Lite spec to an SVG string on the server: compiled to Vega by `vega-lite`, run
 * headless by `vega` (`renderer: "none"`, no canvas or browser), so the page needs no script.
 *
 * Without a canvas Vega estimates text widths instead of measuring them; labels may sit a pixel
 * or two off, which the charts tolerate.
 *
 * @module
 */

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** Shared look of every figure: a plain background and the page's font. */
const CONFIG = {
  background: "white",
  font: "system-ui, sans-serif",
  view: { stroke: "#ddd" },
} as const;

/** Renders `spec` as a standalone SVG document (with its namespace declarations). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = compile({ ...spec, config: { ...CONFIG, ...spec.config } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * An SVG document as an element inline in HTML: the namespace declarations dropped (the HTML
 * parser puts `<svg>` in the SVG namespace itself), so the page names no http URL at all.
 */
export function inlineSvg(svg: string): string {
  return svg.replace(/^<svg\b[^>]*>/, (open) => open.replace(/\s+xmlns(?::\w+)?="[^"]*"/g, ""));
}
