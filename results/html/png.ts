/**
 * A figure's SVG as a PNG, for papers: rasterised by resvg (its WebAssembly build, no browser)
 * with the DejaVu fonts of the system, since WebAssembly cannot read system fonts itself.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import { UserError } from "../../core/errors.ts";

/** Where Debian's fonts-dejavu-core (and most distributions) put DejaVu Sans. */
const FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF"];
const FONT_FILES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"];

let ready: Promise<void> | null = null;

function init(): Promise<void> {
  ready ??= (async () => {
    const wasm = createRequire(import.meta.url).resolve("@resvg/resvg-wasm/index_bg.wasm");
    await initWasm(readFileSync(wasm));
  })();
  return ready;
}

function fonts(): Uint8Array[] {
  for (const dir of FONT_DIRS) {
    const paths = FONT_FILES.map((f) => `${dir}/${f}`);
    if (paths.every(existsSync)) return paths.map((p) => readFileSync(p));
  }
  throw new UserError(
    `Cannot draw a PNG without DejaVu Sans (looked in ${FONT_DIRS.join(", ")}): install fonts-dejavu-core, ` +
      "or use --format svg",
  );
}

/** `svg` rasterised at `scale` × its own size (2: sharp in print). */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const fontBuffers = fonts();
  await init();
  const image = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: {
      loadSystemFonts: false,
      fontBuffers,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
  });
  return image.render().asPng();
}
