/**
 * The needle-in-a-haystack heatmaps under the context figure: score by needle depth × context
 * length, one panel per model and task, as the text report prints them. The context figure
 * averages depths away; this is where a model that loses the needle only mid-context shows.
 *
 * @module
 */

import type { TopLevelSpec } from "vega-lite";
import type { Heatmap } from "../report.ts";

/** One drawn cell: a model's score (0–1) on one task at one depth and length. */
export interface HeatmapCell {
  /** `model · task/metric`, the panel's title. */
  panel: string;
  model: string;
  depth: number;
  length: number;
  score: number;
}

/** The heatmap figure: a spec and its caption. */
export interface HeatmapFigure {
  title: string;
  spec: TopLevelSpec;
  note: string;
}

/**
 * The cells of every heatmap that was run, scores on a 0–100 scale drawn as 0–1 (per heatmap, as
 * the text heatmaps scale them). Cells not run are left out, so they show as blanks, not zeros.
 */
export function heatmapCells(maps: readonly Heatmap[]): HeatmapCell[] {
  return maps.flatMap((map) => {
    const scale = map.values.flat().some((v) => v !== null && v > 1) ? 100 : 1;
    const panel = `${map.model} · ${map.task}/${map.metric}`;
    return map.depths.flatMap((depth, d) =>
      map.lengths.flatMap((length, l) => {
        const v = map.values[d][l];
        return v === null ? [] : [{ panel, model: map.model, depth, length, score: v / scale }];
      })
    );
  });
}

/** The depth × length heatmaps as one faceted rect chart; null when no result has a depth. */
export function heatmapFigure(maps: readonly Heatmap[]): HeatmapFigure | null {
  const values = heatmapCells(maps);
  if (values.length === 0) return null;
  const panels = [...new Set(values.map((v) => v.panel))].sort();
  return {
    title: "Needle in a haystack: score by depth and context length",
    note: "One panel per model and task; rows: needle depth (% into the context), columns: context tokens.",
    spec: {
      data: { values },
      facet: { field: "panel", type: "nominal", title: null, sort: panels },
      columns: 3,
      spec: {
        name: "heatmap",
        width: 200,
        height: 160,
        mark: { type: "rect" },
        encoding: {
          // Ordinal, not log: the cells are the lengths and depths that were run, evenly spaced.
          x: { field: "length", type: "ordinal", sort: "ascending", title: "context tokens" },
          y: { field: "depth", type: "ordinal", sort: "ascending", title: "needle depth %" },
          color: {
            field: "score",
            type: "quantitative",
            // Fixed 0–1, so one shade means one score in every panel and every report.
            scale: { domain: [0, 1], scheme: "viridis" },
            title: "score",
          },
          description: { field: "model" },
        },
      },
    },
  };
}
