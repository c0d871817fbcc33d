/**
 * The report's figures as Vega-Lite specs, built from the leaderboard and the page data. A figure
 * whose data is empty has no spec, only a note saying why, so the page never shows an empty chart.
 *
 * Every mark layer carries a `name`; Vega writes it into the SVG as the class `<name>_marks`, which
 * is how tests (and anyone styling the page) find a figure's points, lines and bars.
 *
 * @module
 */

import type { TopLevelSpec } from "vega-lite";
import { UserError } from "../../core/errors.ts";
import type { Leaderboard, ResultRecord } from "../report.ts";
import { CACHE_KINDS, type CacheKind, cacheKind } from "../cache_kind.ts";
import type { BenchPoint, PageData, Provenance } from "./data.ts";

/** The figures, in page order; `--figure` takes one of these names. */
export const FIGURES = ["accuracy", "mqar", "context", "speed", "bench"] as const;

/** A figure's name. */
export type FigureName = (typeof FIGURES)[number];

/** One figure: a spec to render, or a note saying why there is nothing to draw. */
export interface Figure {
  name: FigureName;
  title: string;
  spec: TopLevelSpec | null;
  /** Why the figure is left out (when `spec` is null), or a caption under it. */
  note: string;
}

/** Options of the figures. */
export interface FigureOptions {
  /** `TASK/METRIC` for the accuracy axis; null: the leaderboard's average. */
  metric?: string | null;
}

/** Vega's tableau10 colours, one fixed per kind of cache; "other" grey. */
const CACHE_COLOURS: Record<CacheKind, string> = {
  "baseline": "#4c78a8",
  "converted MLA": "#f58518",
  "native MLA": "#e45756",
  "hybrid": "#72b7b2",
  "sparse": "#54a24b",
  "runtime policy": "#b279a2",
  "other": "#bab0ac",
};

const WIDTH = 420;
const HEIGHT = 280;

/** Builds every figure of the page, in {@linkcode FIGURES} order. */
export function buildFigures(board: Leaderboard, data: PageData, options: FigureOptions = {}): Figure[] {
  return [
    accuracyFigure(board, options, data.provenance),
    mqarFigure(board),
    contextFigure(board),
    speedFigure(data),
    benchFigure(data.bench),
  ];
}

/**
 * Accuracy against measured KV bytes per token, one point per model coloured by how it got its
 * cache ({@linkcode cacheKind}; the family stays in its tooltip and aria label), with the
 * Pareto front: the models that no model with at most as many bytes beats. A model whose run
 * records a teacher (`provenance[model].teacher`) that is also drawn is joined to it by a thin
 * line, so each conversion sits visibly next to its baseline.
 *
 * @throws {UserError} when `options.metric` is not a column of the leaderboard.
 */
export function accuracyFigure(
  board: Leaderboard,
  options: FigureOptions = {},
  provenance: Record<string, Pick<Provenance, "teacher">> = {},
): Figure {
  const metric = options.metric ?? null;
  if (metric !== null && !board.columns.includes(metric)) {
    throw new UserError(
      `Cannot plot --metric "${metric}": it is no task/metric of the report; use one of ${
        board.columns.join(", ") || "none"
      }`,
    );
  }
  const label = metric ?? "average";
  const title = `${label} against KV bytes per token`;
  const points = board.rows
    .map((r) => {
      // A cache policy's run sits at the bytes its compressed form would take, a TPLA run at what
      // one device holds; its name on the plot says which, so neither passes for a measured cache.
      const basis = r.simulatedKvBytesPerToken !== null
        ? "simulated"
        : r.perDeviceKvBytesPerToken !== null
        ? "per device"
        : null;
      const name = basis ? `${r.model} (${basis})` : r.model;
      return {
        model: name,
        run: r.model,
        basis,
        family: r.family ?? "unknown",
        cache: cacheKind(r.family),
        // The point's aria label: the colour alone no longer tells the family.
        label: `${name} (family ${r.family ?? "unknown"}, cache ${cacheKind(r.family)})`,
        bytes: r.simulatedKvBytesPerToken ?? r.perDeviceKvBytesPerToken ?? r.kvBytesPerToken,
        accuracy: metric === null ? r.average : r.scores[metric],
      };
    })
    .filter((p): p is typeof p & { bytes: number; accuracy: number } =>
      p.bytes !== null && p.bytes > 0 && p.accuracy !== null && Number.isFinite(p.accuracy)
    );
  if (points.length === 0) {
    return { name: "accuracy", title, spec: null, note: `No model has both ${label} and measured KV bytes.` };
  }
  const front = paretoFront(points);
  const kinds = CACHE_KINDS.filter((k) => points.some((p) => p.cache === k));
  const links = points.flatMap((p) => {
    const teacher = points.find((t) => t.run === provenance[p.run]?.teacher && t.run !== p.run);
    return teacher
      ? [{
        model: p.model,
        bytes: p.bytes,
        accuracy: p.accuracy,
        teacherBytes: teacher.bytes,
        teacherAccuracy: teacher.accuracy,
      }]
      : [];
  });
  // Domains fixed here (not left to Vega) so the labels can be placed in pixels below.
  const xDomain = logDomain(points.map((p) => p.bytes));
  const yDomain = linearDomain(points.map((p) => p.accuracy));
  const placed = placeLabels(
    points.map((p) => ({
      text: p.model,
      x: WIDTH * (Math.log(p.bytes / xDomain[0]) / Math.log(xDomain[1] / xDomain[0])),
      y: HEIGHT * (1 - (p.accuracy - yDomain[0]) / (yDomain[1] - yDomain[0])),
    })),
    WIDTH,
    HEIGHT,
  );
  const labels = points.map((p, i) => ({ model: p.model, ...placed[i] }));
  const x = {
    field: "bytes",
    type: "quantitative" as const,
    // Caches span orders of magnitude (a 64× compression is common), so bytes go on a log axis.
    scale: { type: "log" as const, domain: xDomain, nice: false },
    title: points.some((p) => p.basis !== null)
      ? "KV bytes per token (measured; marked: simulated or per device)"
      : "KV bytes per token (measured)",
  };
  const y = {
    field: "accuracy",
    type: "quantitative" as const,
    scale: { domain: yDomain, nice: false },
    title: label,
  };
  return {
    name: "accuracy",
    title,
    note: `Line: the Pareto front — the best ${label} for at most that many KV bytes per token.` +
      (links.length > 0 ? " Thin lines join each converted model to its teacher." : ""),
    spec: {
      width: WIDTH,
      height: HEIGHT,
      layer: [
        // Before the points, so a point is drawn over the ends of its lines.
        ...(links.length > 0
          ? [{
            name: "teacher",
            data: { values: links },
            mark: { type: "rule" as const, color: "#999", strokeWidth: 1 },
            encoding: {
              x,
              y,
              x2: { field: "teacherBytes" },
              y2: { field: "teacherAccuracy" },
              description: { field: "model" },
            },
          }]
          : []),
        {
          name: "front",
          data: { values: front },
          mark: { type: "line", interpolate: "step-after", color: "#888", strokeDash: [4, 3] },
          encoding: { x, y },
        },
        {
          name: "models",
          data: { values: points },
          mark: { type: "point", filled: true, size: 90 },
          encoding: {
            x,
            y,
            color: {
              field: "cache",
              type: "nominal",
              title: "cache",
              // Only the kinds drawn, in legend order, each with its own colour in every report.
              scale: { domain: kinds, range: kinds.map((k) => CACHE_COLOURS[k]) },
            },
            // Vega's SVG has no tooltips; its aria-label is what names a point on a static page.
            description: { field: "label" },
          },
        },
        {
          // Positioned in pixels (scale null), where placeLabels put them clear of each other.
          name: "labels",
          data: { values: labels },
          mark: { type: "text", align: "left", baseline: "middle", fontSize: LABEL_FONT },
          encoding: {
            x: { field: "x", type: "quantitative", scale: null },
            y: { field: "y", type: "quantitative", scale: null },
            text: { field: "model" },
          },
        },
      ],
    },
  };
}

/** A log axis's domain: whole powers of ten around the values, so the ticks read 10, 100, 1,000. */
function logDomain(values: number[]): [number, number] {
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  return [lo, 10 ** (Math.floor(Math.log10(Math.max(...values))) + 1)];
}

/** 0–1 for scores (most metrics), else from 0 (or the lowest value) to a tenth above the highest. */
function linearDomain(values: number[]): [number, number] {
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values);
  return [lo, hi <= 1 ? 1 : hi + (hi - lo) / 10 || 1];
}

const LABEL_FONT = 10;
/**
 * Estimated width of a label character. Without a browser there is no text measurement; 0.7 em
 * is above the average glyph of wide sans-serif fonts (DejaVu Sans, Debian's default), so
 * estimates err towards more room.
 */
const CHAR_WIDTH = LABEL_FONT * 0.7;
/** A line of label text plus a gap, so neighbouring labels don't touch. */
const LABEL_HEIGHT = LABEL_FONT * 1.5;
/** Radius of a point mark of area 90 px², plus a gap. */
const POINT_CLEARANCE = 7;

/** A label to place: its text and the pixel position of its point. */
export interface LabelAnchor {
  text: string;
  x: number;
  y: number;
}

/**
 * Where to draw each point's label (left edge, vertical middle, in pixels) so that no two labels
 * overlap and none covers a point or leaves the plot: tried in points' x order, each takes the
 * first free spot around its point (right, then above and below on the right, then left, …), or
 * the one that overlaps least when none is free. Models of the same cache size and similar
 * accuracy (llama and DMA both at 512 B) would otherwise be drawn on top of each other.
 */
export function placeLabels(
  anchors: readonly LabelAnchor[],
  width: number,
  height: number,
): { x: number; y: number }[] {
  type Box = { x0: number; x1: number; y0: number; y1: number };
  const overlap = (a: Box, b: Box) =>
    Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0)) *
    Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
  const points: Box[] = anchors.map((a) => ({
    x0: a.x - POINT_CLEARANCE,
    x1: a.x + POINT_CLEARANCE,
    y0: a.y - POINT_CLEARANCE,
    y1: a.y + POINT_CLEARANCE,
  }));
  const placed: Box[] = [];
  const result: { x: number; y: number }[] = new Array(anchors.length);
  const order = anchors.map((_, i) => i).sort((i, j) =>
    anchors[i].x - anchors[j].x || anchors[i].y - anchors[j].y
  );
  for (const i of order) {
    const a = anchors[i];
    const w = a.text.length * CHAR_WIDTH;
    const h = LABEL_HEIGHT;
    const right = a.x + POINT_CLEARANCE;
    const left = a.x - POINT_CLEARANCE - w;
    const centre = a.x - w / 2;
    const candidates: [number, number][] = [
      [right, a.y],
      [right, a.y - h],
      [right, a.y + h],
      [left, a.y],
      [left, a.y - h],
      [left, a.y + h],
      [centre, a.y - POINT_CLEARANCE - h / 2],
      [centre, a.y + POINT_CLEARANCE + h / 2],
      [right, a.y - 2 * h],
      [right, a.y + 2 * h],
      [left, a.y - 2 * h],
      [left, a.y + 2 * h],
    ];
    let best: { at: [number, number]; cost: number; box: Box } | null = null;
    for (const at of candidates) {
      const box = { x0: at[0], x1: at[0] + w, y0: at[1] - h / 2, y1: at[1] + h / 2 };
      const outside = (Math.max(0, -box.x0) + Math.max(0, box.x1 - width)) * h +
        (Math.max(0, -box.y0) + Math.max(0, box.y1 - height)) * w;
      const cost = outside + [...placed, ...points].reduce((sum, b) => sum + overlap(box, b), 0);
      if (best === null || cost < best.cost) best = { at, cost, box };
      if (cost === 0) break;
    }
    placed.push(best!.box);
    result[i] = { x: best!.at[0], y: best!.at[1] };
  }
  return result;
}

/**
 * The Pareto front in bytes order: each point that beats every point with fewer (or as many)
 * bytes. Drawn as a step line, it is the best accuracy available for at most that many bytes.
 */
export function paretoFront<T extends { bytes: number; accuracy: number }>(points: readonly T[]): T[] {
  const sorted = [...points].sort((a, b) => a.bytes - b.bytes || b.accuracy - a.accuracy);
  const front: T[] = [];
  for (const p of sorted) {
    if (front.length === 0 || p.accuracy > front[front.length - 1].accuracy) front.push(p);
  }
  return front;
}

/** The metric a task's slice cells are drawn with: its headline metric, else `acc`, else the first. */
function cellMetric(results: readonly ResultRecord[], task: string): string {
  const mine = results.filter((r) => r.task === task);
  return mine.find((r) => r.primary)?.metric ?? mine.find((r) => r.metric === "acc")?.metric ??
    mine[0].metric;
}

/** MQAR accuracy against the number of kv pairs: one line per model, one panel per task × length. */
export function mqarFigure(board: Leaderboard): Figure {
  const title = "MQAR accuracy against kv pairs";
  const tasks = [...new Set(board.results.filter((r) => r.numKvPairs !== null).map((r) => r.task))];
  const values = tasks.flatMap((task) => {
    const metric = cellMetric(board.results, task);
    return board.results
      .filter((r) =>
        r.task === task && r.metric === metric && r.numKvPairs !== null && r.depth === null &&
        r.value !== null
      )
      .map((r) => ({
        model: r.model,
        kvPairs: r.numKvPairs,
        accuracy: r.value,
        panel: `${task}/${metric}${r.contextLen !== null ? `, length ${r.contextLen}` : ""}`,
      }));
  });
  if (values.length === 0) {
    return { name: "mqar", title, spec: null, note: "No results by number of kv pairs (run MQAR)." };
  }
  return {
    name: "mqar",
    title,
    note: "One line per model; one panel per task and sequence length.",
    spec: {
      data: { values },
      facet: { field: "panel", type: "nominal", title: null, sort: panelOrder(values.map((v) => v.panel)) },
      columns: 3,
      spec: {
        name: "mqar",
        width: 260,
        height: 200,
        mark: { type: "line", point: true },
        encoding: {
          // kv pairs double from cell to cell, so a log2 axis spaces them evenly.
          x: {
            field: "kvPairs",
            type: "quantitative",
            scale: { type: "log", base: 2 },
            axis: { values: distinct(values.map((v) => v.kvPairs as number)), format: "d" },
            title: "kv pairs",
          },
          y: { field: "accuracy", type: "quantitative", scale: { domain: [0, 1] }, title: "accuracy" },
          color: { field: "model", type: "nominal" },
          description: { field: "model" },
        },
      },
    },
  };
}

/** Axis ticks at the values the data has: a log axis's own ticks fall between cells (4.5 kv pairs). */
function distinct(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Panels sorted by task, then length as a number (not as text: 128 after 64). */
function panelOrder(panels: string[]): string[] {
  const len = (p: string) => Number(/length (\d+)/.exec(p)?.[1] ?? 0);
  return [...new Set(panels)].sort((a, b) =>
    a.split(",")[0].localeCompare(b.split(",")[0]) || len(a) - len(b)
  );
}

/** One model's score (0–1) on one context-length task at one length. */
export interface ContextScore {
  model: string;
  /** `task/metric`. */
  task: string;
  length: number;
  score: number;
}

/**
 * Each model's score per task and context length, from the results with a context length and no
 * kv-pair count: a needle's depths averaged per length, weighted by their sample counts, and
 * scores on RULER's 0–100 scale divided by 100.
 */
export function contextScores(board: Leaderboard): ContextScore[] {
  const cells = board.results.filter((r) =>
    r.contextLen !== null && r.numKvPairs === null && r.value !== null
  );
  const values: ContextScore[] = [];
  for (const task of [...new Set(cells.map((r) => r.task))].sort()) {
    const metric = cellMetric(board.results, task);
    const mine = cells.filter((r) => r.task === task && r.metric === metric);
    const scale = mine.some((r) => (r.value as number) > 1) ? 100 : 1;
    const groups = new Map<string, ResultRecord[]>();
    for (const r of mine) {
      const key = `${r.model}|${r.contextLen}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    for (const group of groups.values()) {
      const weights = group.map((r) => r.n ?? 1);
      const total = weights.reduce((a, b) => a + b, 0);
      const mean = group.reduce((a, r, i) => a + (r.value as number) * weights[i], 0) / (total || 1);
      values.push({
        model: group[0].model,
        task: `${task}/${metric}`,
        length: group[0].contextLen as number,
        score: mean / scale,
      });
    }
  }
  return values;
}

/**
 * RULER / needle-in-a-haystack score by context length: one line per model, one panel per task.
 * Needle cells at several depths are averaged per length, weighted by their sample counts; scores
 * on RULER's 0–100 scale are drawn as 0–1, as the text heatmaps do.
 */
export function contextFigure(board: Leaderboard): Figure {
  const title = "Score by context length (RULER / needle in a haystack)";
  const values = contextScores(board);
  if (values.length === 0) {
    return { name: "context", title, spec: null, note: "No RULER or needle-in-a-haystack results." };
  }
  return {
    name: "context",
    title,
    note: "One line per model; needle depths averaged per length.",
    spec: {
      data: { values },
      facet: { field: "task", type: "nominal", title: null },
      columns: 3,
      spec: {
        name: "context",
        width: 260,
        height: 200,
        mark: { type: "line", point: true },
        encoding: {
          x: {
            field: "length",
            type: "quantitative",
            scale: { type: "log", base: 2 },
            axis: { values: distinct(values.map((v) => v.length)), format: "d" },
            title: "context tokens",
          },
          y: { field: "score", type: "quantitative", scale: { domain: [0, 1] }, title: "score" },
          color: { field: "model", type: "nominal" },
          description: { field: "model" },
        },
      },
    },
  };
}

/** Tokens per second of every model on every task: grouped horizontal bars. */
export function speedFigure(data: PageData): Figure {
  const title = "Speed: tokens per second by task";
  if (data.speeds.length === 0) {
    return { name: "speed", title, spec: null, note: "No timed forward calls in the perf table." };
  }
  return {
    name: "speed",
    title,
    note: "Tokens per second over each task's forward calls, from the model's latest run that timed it.",
    spec: {
      width: WIDTH,
      data: { values: data.speeds.map((s) => ({ ...s })) },
      name: "speed",
      mark: { type: "bar" },
      encoding: {
        y: { field: "task", type: "nominal", title: null },
        yOffset: { field: "model", type: "nominal" },
        x: { field: "tokensPerSecond", type: "quantitative", title: "tokens/s" },
        color: { field: "model", type: "nominal" },
        description: { field: "model" },
      },
    },
  };
}

/**
 * `deno task bench` throughput against context: one panel for prefill and one for decode, one line
 * per model and batch size (colour: model, dash: batch). Scoring work has no context and is only
 * in the table under the figure.
 */
export function benchFigure(bench: readonly BenchPoint[]): Figure {
  const title = "Speed by context (deno task bench)";
  const values = bench
    .filter((b) => b.context !== null && (b.work === "prefill" || b.work === "decode"))
    .map((b) => ({ ...b, batch: `batch ${b.batch}` }));
  if (values.length === 0) {
    return { name: "bench", title, spec: null, note: "No deno task bench rows in the perf table." };
  }
  return {
    name: "bench",
    title,
    note: "Tokens per second from each model's latest bench run; one line per model and batch size.",
    spec: {
      data: { values },
      facet: { field: "work", type: "nominal", title: null, sort: ["prefill", "decode"] },
      // Prefill runs orders of magnitude faster than decode: each panel gets its own y scale.
      resolve: { scale: { y: "independent" } },
      spec: {
        name: "bench",
        width: 260,
        height: 200,
        mark: { type: "line", point: true },
        encoding: {
          x: {
            field: "context",
            type: "quantitative",
            scale: { type: "log", base: 2 },
            axis: { values: distinct(values.map((v) => v.context as number)), format: "d" },
            title: "context tokens",
          },
          y: { field: "tokensPerSecond", type: "quantitative", title: "tokens/s" },
          color: { field: "model", type: "nominal" },
          strokeDash: { field: "batch", type: "nominal", title: "batch" },
          description: { field: "model" },
        },
      },
    },
  };
}
