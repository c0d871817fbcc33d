/**
 * The leaderboard: the latest finished result per model and task, pivoted to one row per model
 * with the measured KV cache size, compression against a baseline and throughput.
 *
 * @module
 */

import type { Store } from "./store.ts";

/** Output formats of the report. */
export type ReportFormat = "table" | "markdown" | "csv" | "json";

/** One model's row of the leaderboard. */
export interface LeaderboardRow {
  model: string;
  family: string | null;
  /** `task/metric` → value. */
  scores: Record<string, number | null>;
  /** Mean of each task's headline metric. */
  average: number | null;
  /** Measured bytes per token of the growing state. */
  kvBytesPerToken: number | null;
  /** Measured bytes of fixed-size state per sequence. */
  fixedStateBytes: number | null;
  /** Baseline bytes per token ÷ this model's. */
  compression: number | null;
  /** Tokens per second over the forward calls of the model's latest runs. */
  tokensPerSecond: number | null;
  /** Run ids the row draws on. */
  runs: number[];
}

/** A slice table: one row per model, one column per cell (e.g. MQAR kv pairs × length). */
export interface SliceTable {
  task: string;
  metric: string;
  cells: string[];
  rows: { model: string; values: Record<string, number | null> }[];
}

/** A depth × context-length grid of one model's scores (needle-in-a-haystack). */
export interface Heatmap {
  model: string;
  task: string;
  metric: string;
  depths: number[];
  lengths: number[];
  /** `values[d][l]`, null where the cell was not run. */
  values: (number | null)[][];
}

/** The whole report. */
export interface Leaderboard {
  columns: string[];
  rows: LeaderboardRow[];
  baseline: string | null;
  slices: SliceTable[];
  heatmaps: Heatmap[];
}

/**
 * Builds the leaderboard from the store. The baseline for compression is `baseline` (a model
 * name) if given, else the first model of family `llama`.
 */
export async function buildLeaderboard(store: Store, baseline: string | null = null): Promise<Leaderboard> {
  const latest = await store.query(`
    WITH ranked AS (
      SELECT r.model_name, r.family, res.*, row_number() OVER (
        PARTITION BY r.model_name, res.task, res.metric, res.num_kv_pairs, res.context_len, res.depth
        ORDER BY res.run_id DESC) AS rank
      FROM results res JOIN runs r ON r.id = res.run_id
      WHERE r.status = 'done')
    SELECT * FROM ranked WHERE rank = 1 ORDER BY model_name, task, metric`);
  // Cache size from the model's latest finished run; speed from its latest run that computed
  // anything (a run that reused every sample measured no forward calls).
  const perf = await store.query(`
    WITH last AS (
      SELECT model_name, arg_max(id, id) AS run_id, arg_max(kv_bytes_per_token, id) AS kv,
             arg_max(fixed_state_bytes, id) AS fixed
        FROM runs WHERE status = 'done' GROUP BY model_name),
    speed AS (
      SELECT r.model_name, arg_max(p.run_id, p.run_id) AS run_id
        FROM perf p JOIN runs r ON r.id = p.run_id
       WHERE r.status = 'done' AND p.tokens > 0 GROUP BY r.model_name),
    totals AS (
      SELECT speed.model_name, sum(p.tokens) AS tokens, sum(p.seconds) AS seconds
        FROM speed JOIN perf p ON p.run_id = speed.run_id GROUP BY speed.model_name)
    SELECT last.model_name, last.kv, last.fixed, totals.tokens, totals.seconds
      FROM last LEFT JOIN totals ON totals.model_name = last.model_name`);
  const overall = latest.filter((r) => r.num_kv_pairs === null && r.context_len === null && r.depth === null);
  const columns = [...new Set(overall.map((r) => `${r.task}/${r.metric}`))];
  const models = [...new Set(latest.map((r) => r.model_name as string))];
  const rows: LeaderboardRow[] = models.map((model) => {
    const mine = overall.filter((r) => r.model_name === model);
    const scores: Record<string, number | null> = {};
    for (const c of columns) {
      const hit = mine.find((r) => `${r.task}/${r.metric}` === c);
      scores[c] = hit ? (hit.value as number | null) : null;
    }
    const primaries = mine.filter((r) => r.is_primary && r.value !== null).map((r) => r.value as number);
    const p = perf.find((r) => r.model_name === model);
    return {
      model,
      family: (mine[0]?.family as string | null) ?? null,
      scores,
      average: primaries.length > 0 ? primaries.reduce((a, b) => a + b, 0) / primaries.length : null,
      kvBytesPerToken: (p?.kv as number | null) ?? null,
      fixedStateBytes: (p?.fixed as number | null) ?? null,
      compression: null,
      tokensPerSecond: p && p.seconds && (p.seconds as number) > 0
        ? (p.tokens as number) / (p.seconds as number)
        : null,
      runs: [...new Set(mine.map((r) => r.run_id as number))].sort((a, b) => a - b),
    };
  });
  const base = baseline !== null
    ? rows.find((r) => r.model === baseline) ?? null
    : rows.find((r) => r.family === "llama") ?? null;
  for (const row of rows) {
    if (base?.kvBytesPerToken && row.kvBytesPerToken) {
      row.compression = base.kvBytesPerToken / row.kvBytesPerToken;
    }
  }
  return {
    columns,
    rows,
    baseline: base?.model ?? null,
    slices: sliceTables(latest),
    heatmaps: heatmaps(latest),
  };
}

function heatmaps(latest: Record<string, unknown>[]): Heatmap[] {
  const cells = latest.filter((r) => r.depth !== null && r.context_len !== null);
  const maps = new Map<string, Heatmap>();
  for (const r of cells) {
    const key = `${r.model_name}|${r.task}|${r.metric}`;
    if (!maps.has(key)) {
      maps.set(key, {
        model: r.model_name as string,
        task: r.task as string,
        metric: r.metric as string,
        depths: [],
        lengths: [],
        values: [],
      });
    }
    const map = maps.get(key)!;
    if (!map.depths.includes(r.depth as number)) map.depths.push(r.depth as number);
    if (!map.lengths.includes(r.context_len as number)) map.lengths.push(r.context_len as number);
  }
  for (const map of maps.values()) {
    map.depths.sort((a, b) => a - b);
    map.lengths.sort((a, b) => a - b);
    map.values = map.depths.map((d) =>
      map.lengths.map((l) => {
        const hit = cells.find((r) =>
          r.model_name === map.model && r.task === map.task && r.metric === map.metric && r.depth === d &&
          r.context_len === l
        );
        return hit ? (hit.value as number | null) : null;
      })
    );
  }
  return [...maps.values()];
}

const SHADES = [" ", "░", "▒", "▓", "█"];

/** A heatmap as text: one row per depth, one column per length, a shade and the score per cell. */
export function renderHeatmap(map: Heatmap): string {
  const scale = map.values.flat().some((v) => v !== null && v > 1) ? 100 : 1;
  const width = Math.max(6, ...map.lengths.map((l) => String(l).length));
  const head = `depth % │ ${map.lengths.map((l) => String(l).padStart(width)).join(" ")}`;
  const lines = map.depths.map((d, i) =>
    `${String(d).padStart(7)} │ ${
      map.values[i].map((v) => {
        if (v === null) return "".padStart(width);
        const shade = SHADES[Math.min(4, Math.round((v / scale) * 4))];
        return `${shade}${(v / scale).toFixed(2)}`.padStart(width);
      }).join(" ")
    }`
  );
  return [
    `${map.model} ${map.task}/${map.metric} (rows: needle depth, columns: context tokens)`,
    head,
    "─".repeat(head.length),
    ...lines,
  ]
    .join("\n") + "\n";
}

function sliceTables(latest: Record<string, unknown>[]): SliceTable[] {
  const sliced = latest.filter((r) => r.num_kv_pairs !== null || r.context_len !== null || r.depth !== null);
  const tables = new Map<string, SliceTable>();
  for (const r of sliced) {
    const key = `${r.task}/${r.metric}`;
    const table = tables.get(key) ??
      { task: r.task as string, metric: r.metric as string, cells: [], rows: [] };
    tables.set(key, table);
    const cell = [
      r.num_kv_pairs !== null ? `kv=${r.num_kv_pairs}` : "",
      r.context_len !== null ? `len=${r.context_len}` : "",
      r.depth !== null ? `depth=${r.depth}` : "",
    ].filter(Boolean).join(" ");
    if (!table.cells.includes(cell)) table.cells.push(cell);
    let row = table.rows.find((x) => x.model === r.model_name);
    if (!row) {
      row = { model: r.model_name as string, values: {} };
      table.rows.push(row);
    }
    row.values[cell] = r.value as number | null;
  }
  for (const t of tables.values()) {
    const num = (cell: string, key: string) => Number(cell.match(new RegExp(`${key}=([\\d.]+)`))?.[1] ?? 0);
    t.cells.sort((a, b) =>
      num(a, "kv") - num(b, "kv") || num(a, "len") - num(b, "len") || num(a, "depth") - num(b, "depth")
    );
  }
  return [...tables.values()];
}

/** Renders the leaderboard in `format`. */
export function renderLeaderboard(board: Leaderboard, format: ReportFormat): string {
  if (format === "json") return JSON.stringify(board, null, 2) + "\n";
  const header = [
    "model",
    "family",
    ...board.columns,
    "average",
    "KV B/token",
    "fixed state B",
    board.baseline ? `compression × (vs ${board.baseline})` : "compression ×",
    "tokens/s",
  ];
  const body = board.rows.map((r) => [
    r.model,
    r.family ?? "",
    ...board.columns.map((c) => fmt(r.scores[c], 4)),
    fmt(r.average, 4),
    fmt(r.kvBytesPerToken, 0),
    fmt(r.fixedStateBytes, 0),
    r.compression !== null ? `${r.compression.toFixed(2)}×` : "",
    fmt(r.tokensPerSecond, 0),
  ]);
  const parts = [render(header, body, format)];
  for (const t of board.slices) {
    const sliceHeader = ["model", ...t.cells];
    const sliceBody = t.rows.map((r) => [r.model, ...t.cells.map((c) => fmt(r.values[c] ?? null, 4))]);
    const title = `${t.task}/${t.metric} by cell`;
    parts.push(
      format === "csv"
        ? `# ${title}\n` + render(sliceHeader, sliceBody, format)
        : `${format === "markdown" ? "### " : ""}${title}\n\n` + render(sliceHeader, sliceBody, format),
    );
  }
  if (format !== "csv") {
    for (const map of board.heatmaps) {
      const text = renderHeatmap(map);
      parts.push(format === "markdown" ? "```\n" + text + "```\n" : text);
    }
  }
  return parts.join("\n");
}

function fmt(value: number | null | undefined, digits: number): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  return value.toFixed(digits);
}

function render(header: string[], body: string[][], format: ReportFormat): string {
  if (format === "csv") {
    const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    return [header, ...body].map((r) => r.map(esc).join(",")).join("\n") + "\n";
  }
  if (format === "markdown") {
    const line = (r: string[]) => `| ${r.join(" | ")} |`;
    return [line(header), line(header.map(() => "---")), ...body.map(line)].join("\n") + "\n";
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "─".repeat(w)).join("  "), ...body.map(line)].join("\n") + "\n";
}
