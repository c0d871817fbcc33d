/**
 * The leaderboard: the latest finished result per model and task, pivoted to one row per model
 * with the measured KV cache size, compression against a baseline and throughput.
 *
 * @module
 */

import { CACHE_KINDS, type CacheKind, cacheKind } from "./cache_kind.ts";
import { UserError } from "../core/errors.ts";
import type { Store } from "./store.ts";

/** Output formats of the report. */
export type ReportFormat = "table" | "markdown" | "csv" | "json";

/** Which runs the leaderboard draws on, and what compression is measured against. */
export interface LeaderboardOptions {
  /**
   * Model name whose KV bytes/token every row's compression is measured against. Null: each row
   * against the `llama`-family model of the same shape (see {@linkcode buildLeaderboard}).
   */
  baseline?: string | null;
  /** Only these models (by name); null or empty: every model with a finished run. */
  models?: readonly string[] | null;
  /** Only these runs (by id, each finished); null or empty: every finished run. */
  runs?: readonly number[] | null;
  /** Only these tasks (and groups), by name; null or empty: every task with a result. */
  tasks?: readonly string[] | null;
  /**
   * Only each model's latest finished run (among those chosen), rather than each task's latest
   * result from whichever run last scored it.
   */
  latest?: boolean;
}

/** One model's row of the leaderboard. */
export interface LeaderboardRow {
  model: string;
  family: string | null;
  /** How the model got its cache (the report's grouping and the figure's colour; from its family). */
  cacheKind: CacheKind;
  /** Run ids the row draws on. */
  runs: number[];
  /** `task/metric` → value. */
  scores: Record<string, number | null>;
  /** `task/metric` → standard error of the value, where the metric has one. */
  stderr: Record<string, number | null>;
  /** Mean of each task's headline metric. */
  average: number | null;
  /** Measured bytes per token of the growing state. */
  kvBytesPerToken: number | null;
  /** What the model's config says the cache takes per token (its sidecar's formula), if it says. */
  kvFormula: string | null;
  /** Measured bytes of fixed-size state per sequence. */
  fixedStateBytes: number | null;
  /**
   * Bytes per token a cache policy's compressed form would take (xKV's factors): simulated, the
   * cache held `kvBytesPerToken`. Null without a policy.
   */
  simulatedKvBytesPerToken: number | null;
  /** Bytes per token one device holds of a sharded cache (TPLA, from kvbench.json); null if unsharded. */
  perDeviceKvBytesPerToken: number | null;
  /** Baseline bytes per token ÷ this model's. */
  compression: number | null;
  /** The model compression is measured against, null where there is none. */
  baseline: string | null;
  /** Tokens per second over the forward calls of the model's latest runs. */
  tokensPerSecond: number | null;
}

/** One stored result the leaderboard shows: a model × task × metric, overall or one slice cell. */
export interface ResultRecord {
  model: string;
  runId: number;
  task: string;
  metric: string;
  numKvPairs: number | null;
  contextLen: number | null;
  depth: number | null;
  value: number | null;
  stderr: number | null;
  n: number | null;
  /** Whether it is the task's headline metric (the average uses it). */
  primary: boolean;
}

/** A slice table: one row per model, one column per cell (e.g. MQAR kv pairs × length). */
export interface SliceTable {
  task: string;
  metric: string;
  cells: string[];
  rows: { model: string; values: Record<string, number | null>; stderr: Record<string, number | null> }[];
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
  /** `task/metric` of every overall result, sorted. */
  columns: string[];
  rows: LeaderboardRow[];
  /** The baseline named with `--baseline`; null when each row has its same-shape llama. */
  baseline: string | null;
  slices: SliceTable[];
  heatmaps: Heatmap[];
  /** Every result behind the rows, slices and heatmaps, one per model × task × metric × cell. */
  results: ResultRecord[];
}

/** What the report needs of one run. */
interface RunRow {
  id: number;
  status: string;
  model: string;
  family: string | null;
  /** The model it was converted or distilled from, as its sidecar says. */
  teacher: string | null;
  kv: number | null;
  kvFormula: string | null;
  fixed: number | null;
  simulatedKv: number | null;
  perDeviceKv: number | null;
  /** Same tokenizer files, layer count and dtype, or null when one of them is unknown. */
  shape: string | null;
}

/**
 * Builds the leaderboard from the store: one row per model, from the latest finished result of
 * each task and metric among the chosen runs (`options.models`, `options.runs`; default: every
 * finished run); KV bytes/token and fixed state from the model's latest chosen run.
 *
 * Compression is the baseline's KV bytes/token ÷ the row's. With `options.baseline` that one
 * model is every row's baseline. Without it a row's baseline is the `llama`-family model of the
 * same shape — the same tokenizer files (so the same vocabulary), the same number of layers (the
 * layer indices of the state tensors) and the same dtype — the first by name where several are;
 * a row with none has no compression. Baselines are looked up among every model's latest finished
 * run, whichever runs are chosen.
 *
 * @throws {UserError} when a chosen model, run or the baseline has no finished run.
 */
export async function buildLeaderboard(store: Store, options: LeaderboardOptions = {}): Promise<Leaderboard> {
  const runs = (await store.query(
    // Every column, so a database made before a column existed (read-only: not migrated) still reads.
    `SELECT *, kv_bytes_per_token AS kv, fixed_state_bytes AS fixed FROM runs ORDER BY id`,
  )).map(runRow);
  const done = runs.filter((r) => r.status === "done");
  let chosen = chooseRuns(runs, done, options);
  if (options.latest) chosen = chosen.filter((r) => r === chosen.findLast((o) => o.model === r.model));
  // Ids come from the database as numbers, so they can go into the SQL as text.
  const ids = chosen.length > 0 ? chosen.map((r) => r.id).join(", ") : "NULL";
  const latest = await store.query(`
    WITH ranked AS (
      SELECT r.model_name, r.family, res.*, row_number() OVER (
        PARTITION BY r.model_name, res.task, res.metric, res.num_kv_pairs, res.context_len, res.depth
        ORDER BY res.run_id DESC) AS rank
      FROM results res JOIN runs r ON r.id = res.run_id
      WHERE r.id IN (${ids}))
    SELECT * FROM ranked WHERE rank = 1
    ORDER BY model_name, task, metric, num_kv_pairs NULLS FIRST, context_len NULLS FIRST, depth NULLS FIRST`);
  // Speed from the model's latest chosen run that computed anything (a run that reused every
  // sample measured no forward calls); `deno task bench` rows are the report's bench figure, not this.
  const speed = await store.query(`
    WITH speed AS (
      SELECT r.model_name, max(p.run_id) AS run_id
        FROM perf p JOIN runs r ON r.id = p.run_id
       WHERE r.id IN (${ids}) AND p.tokens > 0 AND p.task NOT LIKE 'bench/%' GROUP BY r.model_name)
    SELECT speed.model_name, sum(p.tokens) AS tokens, sum(p.seconds) AS seconds
      FROM speed JOIN perf p ON p.run_id = speed.run_id
     WHERE p.task NOT LIKE 'bench/%' GROUP BY speed.model_name`);
  const wanted = options.tasks?.length ? options.tasks : null;
  const known = new Set(latest.map((r) => r.task as string));
  for (const task of wanted ?? []) {
    if (!known.has(task)) {
      throw new UserError(
        `Cannot report task "${task}": the chosen runs have no result for it; they have ${
          [...known].sort().join(", ") || "none"
        }`,
      );
    }
  }
  const results: ResultRecord[] = latest.filter((r) => !wanted || wanted.includes(r.task as string)).map((
    r,
  ) => ({
    model: r.model_name as string,
    runId: r.run_id as number,
    task: r.task as string,
    metric: r.metric as string,
    numKvPairs: r.num_kv_pairs as number | null,
    contextLen: r.context_len as number | null,
    depth: r.depth as number | null,
    value: r.value as number | null,
    stderr: r.stderr as number | null,
    n: r.n as number | null,
    primary: r.is_primary === true,
  }));
  const overall = results.filter((r) => r.numKvPairs === null && r.contextLen === null && r.depth === null);
  // Sorted, so that a column's place doesn't depend on which model happened to run it first.
  const columns = [...new Set(overall.map((r) => `${r.task}/${r.metric}`))].sort();
  const models = [...new Set(results.map((r) => r.model))];
  const lastRun = (model: string, among: RunRow[]) => among.findLast((r) => r.model === model) ?? null;
  const base = options.baseline ? lastRun(options.baseline, done) : null;
  if (options.baseline && base === null) {
    throw new UserError(
      `Cannot use baseline "${options.baseline}": it has no finished run; models with one are ${
        namesOf(done)
      }`,
    );
  }
  const rows: LeaderboardRow[] = models.map((model) => {
    const mine = overall.filter((r) => r.model === model);
    const scores: Record<string, number | null> = {};
    const stderr: Record<string, number | null> = {};
    for (const c of columns) {
      const hit = mine.find((r) => `${r.task}/${r.metric}` === c);
      scores[c] = hit?.value ?? null;
      stderr[c] = hit?.stderr ?? null;
    }
    const primaries = mine.filter((r) => r.primary && r.value !== null).map((r) => r.value as number);
    const run = lastRun(model, chosen)!;
    // A converted model is measured against its teacher when that has a finished run.
    const teacher = run.teacher ? lastRun(run.teacher, done) : null;
    const against = base ?? teacher ?? sameShapeLlama(run, done);
    const s = speed.find((r) => r.model_name === model);
    return {
      model,
      family: run.family,
      cacheKind: cacheKind(run.family),
      runs: [...new Set(results.filter((r) => r.model === model).map((r) => r.runId))].sort((a, b) => a - b),
      scores,
      stderr,
      average: primaries.length > 0 ? primaries.reduce((a, b) => a + b, 0) / primaries.length : null,
      kvBytesPerToken: run.kv,
      kvFormula: run.kvFormula,
      fixedStateBytes: run.fixed,
      simulatedKvBytesPerToken: run.simulatedKv,
      perDeviceKvBytesPerToken: run.perDeviceKv,
      compression: against?.kv && run.kv ? against.kv / run.kv : null,
      baseline: against?.kv && run.kv ? against.model : null,
      tokensPerSecond: s && (s.seconds as number) > 0 ? (s.tokens as number) / (s.seconds as number) : null,
    };
  });
  // Grouped by how each model got its cache, in CACHE_KINDS' (the figure legend's) order; stable within a group.
  rows.sort((a, b) => CACHE_KINDS.indexOf(a.cacheKind) - CACHE_KINDS.indexOf(b.cacheKind));
  return {
    columns,
    rows,
    baseline: base?.model ?? null,
    slices: sliceTables(results),
    heatmaps: heatmaps(results),
    results,
  };
}

function runRow(r: Record<string, unknown>): RunRow {
  const layers = layerCount(r.states as string | null);
  return {
    id: r.id as number,
    status: r.status as string,
    model: r.model_name as string,
    family: (r.family as string | null) ?? null,
    teacher: (r.teacher as string | null) ?? null,
    kv: (r.kv as number | null) ?? null,
    kvFormula: (r.kv_formula as string | null | undefined) ?? null,
    fixed: (r.fixed as number | null) ?? null,
    simulatedKv: (r.simulated_kv_bytes_per_token as number | null | undefined) ?? null,
    perDeviceKv: (r.per_device_kv_bytes_per_token as number | null | undefined) ?? null,
    shape: r.tokenizer_sha256 && r.dtype && layers !== null
      ? `${r.tokenizer_sha256}|${layers}|${r.dtype}`
      : null,
  };
}

/** Layers with state: the distinct indices in the state inputs' names (`past_conv.3`, `past.0.key`). */
function layerCount(states: string | null): number | null {
  let specs: unknown;
  try {
    specs = JSON.parse(states ?? "null");
  } catch {
    return null;
  }
  if (!Array.isArray(specs)) return null;
  const indices = new Set<string>();
  for (const spec of specs) {
    const index = /\.(\d+)(?:\.|$)/.exec(String((spec as { input?: unknown })?.input ?? ""))?.[1];
    if (index !== undefined) indices.add(index);
  }
  return indices.size > 0 ? indices.size : null;
}

/** The latest finished run of the first-named `llama` model with `run`'s shape, if any. */
function sameShapeLlama(run: RunRow, done: RunRow[]): RunRow | null {
  if (run.shape === null) return null;
  const latest = new Map<string, RunRow>();
  for (const r of done) latest.set(r.model, r);
  const candidates = [...latest.values()]
    .filter((r) => r.family === "llama" && r.shape === run.shape)
    .sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
  return candidates[0] ?? null;
}

/** The finished runs `options` chooses, in id order; every name and id must match one. */
function chooseRuns(runs: RunRow[], done: RunRow[], options: LeaderboardOptions): RunRow[] {
  const models = options.models?.length ? options.models : null;
  const ids = options.runs?.length ? options.runs : null;
  for (const model of models ?? []) {
    if (!done.some((r) => r.model === model)) {
      throw new UserError(
        `Cannot report model "${model}": it has no finished run; models with one are ${namesOf(done)}`,
      );
    }
  }
  for (const id of ids ?? []) {
    const run = runs.find((r) => r.id === id);
    if (run === undefined || run.status !== "done") {
      throw new UserError(
        `Cannot report run ${id}: ${run ? `it is ${run.status}, not done` : "there is no such run"}; ` +
          `finished runs are ${done.map((r) => r.id).join(", ") || "none"}`,
      );
    }
    if (models && !models.includes(run.model)) {
      throw new UserError(
        `Cannot report run ${id}: it is of model "${run.model}", which --models leaves out`,
      );
    }
  }
  return done.filter((r) => (!models || models.includes(r.model)) && (!ids || ids.includes(r.id)));
}

function namesOf(runs: RunRow[]): string {
  return [...new Set(runs.map((r) => r.model))].sort().join(", ") || "none";
}

function heatmaps(results: ResultRecord[]): Heatmap[] {
  const cells = results.filter((r) => r.depth !== null && r.contextLen !== null);
  const maps = new Map<string, Heatmap>();
  for (const r of cells) {
    const key = `${r.model}|${r.task}|${r.metric}`;
    if (!maps.has(key)) {
      maps.set(key, { model: r.model, task: r.task, metric: r.metric, depths: [], lengths: [], values: [] });
    }
    const map = maps.get(key)!;
    if (!map.depths.includes(r.depth!)) map.depths.push(r.depth!);
    if (!map.lengths.includes(r.contextLen!)) map.lengths.push(r.contextLen!);
  }
  for (const map of maps.values()) {
    map.depths.sort((a, b) => a - b);
    map.lengths.sort((a, b) => a - b);
    map.values = map.depths.map((d) =>
      map.lengths.map((l) => {
        const hit = cells.find((r) =>
          r.model === map.model && r.task === map.task && r.metric === map.metric && r.depth === d &&
          r.contextLen === l
        );
        return hit ? hit.value : null;
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

function sliceTables(results: ResultRecord[]): SliceTable[] {
  const sliced = results.filter((r) => r.numKvPairs !== null || r.contextLen !== null || r.depth !== null);
  const tables = new Map<string, SliceTable>();
  for (const r of sliced) {
    const key = `${r.task}/${r.metric}`;
    const table = tables.get(key) ?? { task: r.task, metric: r.metric, cells: [], rows: [] };
    tables.set(key, table);
    const cell = [
      r.numKvPairs !== null ? `kv=${r.numKvPairs}` : "",
      r.contextLen !== null ? `len=${r.contextLen}` : "",
      r.depth !== null ? `depth=${r.depth}` : "",
    ].filter(Boolean).join(" ");
    if (!table.cells.includes(cell)) table.cells.push(cell);
    let row = table.rows.find((x) => x.model === r.model);
    if (!row) {
      row = { model: r.model, values: {}, stderr: {} };
      table.rows.push(row);
    }
    row.values[cell] = r.value;
    row.stderr[cell] = r.stderr;
  }
  for (const t of tables.values()) {
    const num = (cell: string, key: string) => Number(cell.match(new RegExp(`${key}=([\\d.]+)`))?.[1] ?? 0);
    t.cells.sort((a, b) =>
      num(a, "kv") - num(b, "kv") || num(a, "len") - num(b, "len") || num(a, "depth") - num(b, "depth")
    );
  }
  return [...tables.values()];
}

/** The columns of `--format csv`: one row per model × task × metric × slice cell. */
export const CSV_COLUMNS = [
  "model",
  "family",
  "cache_kind",
  "run_id",
  "task",
  "metric",
  "num_kv_pairs",
  "context_len",
  "depth",
  "value",
  "stderr",
  "n",
  "is_primary",
  "average",
  "kv_bytes_per_token",
  "kv_formula",
  "fixed_state_bytes",
  "simulated_kv_bytes_per_token",
  "per_device_kv_bytes_per_token",
  "compression",
  "baseline",
  "tokens_per_s",
] as const;

/** What the compression column is measured against, for its header. */
function compressionHeader(board: Leaderboard): string {
  if (board.baseline) return `compression × (vs ${board.baseline})`;
  const bases = new Set(board.rows.map((r) => r.baseline).filter((b) => b !== null));
  return bases.size === 1
    ? `compression × (vs ${[...bases][0]})`
    : "compression × (vs teacher or same-shape llama)";
}

/** Which baseline each row's compression used, when the rows have more than one or none. */
function compressionNote(board: Leaderboard): string | null {
  if (board.baseline) return null;
  const groups = new Map<string, string[]>();
  for (const r of board.rows) {
    if (r.baseline !== null) groups.set(r.baseline, [...(groups.get(r.baseline) ?? []), r.model]);
  }
  const missing = board.rows.filter((r) => r.baseline === null && r.kvBytesPerToken).map((r) => r.model);
  if (groups.size + missing.length === 0 || (groups.size === 1 && missing.length === 0)) return null;
  const parts = [...groups].map(([base, models]) => `vs ${base} for ${models.join(", ")}`);
  if (missing.length > 0) parts.push(`none for ${missing.join(", ")}`);
  return `compression × against each model's teacher (its kvbench.json), else the llama-family model with ` +
    `the same tokenizer, layer count and dtype (--baseline NAME picks one for all): ${parts.join("; ")}\n`;
}

/**
 * The leaderboard's columns between a row's model, family and cache kind and its runs, as the text
 * table and the HTML page both show them: each score (± stderr), the average, the cache bytes — the
 * config's formula beside the measured ones (unless `formulaColumn` is false: the HTML page shows it
 * as a tooltip), simulated (cache policy) and per-device (TPLA) ones only where some run has them —
 * and speed.
 */
export function boardColumns(
  board: Leaderboard,
  compressionTitle: string,
  { formulaColumn = true }: { formulaColumn?: boolean } = {},
): { header: string[]; cells: (row: LeaderboardRow) => string[] } {
  const simulated = board.rows.some((r) => r.simulatedKvBytesPerToken !== null);
  const sharded = board.rows.some((r) => r.perDeviceKvBytesPerToken !== null);
  const formulas = formulaColumn && board.rows.some((r) => r.kvFormula !== null);
  return {
    header: [
      ...board.columns,
      "average",
      "KV B/token",
      ...(formulas ? ["KV formula (config)"] : []),
      ...(simulated ? ["simulated KV B/token (policy)"] : []),
      ...(sharded ? ["per-device KV B/token (TPLA)"] : []),
      "fixed state B",
      compressionTitle,
      "tokens/s",
    ],
    cells: (r) => [
      ...board.columns.map((c) => withStderr(r.scores[c], r.stderr[c])),
      fmt(r.average, 4),
      fmt(r.kvBytesPerToken, 0),
      ...(formulas ? [r.kvFormula ?? ""] : []),
      ...(simulated ? [fmt(r.simulatedKvBytesPerToken, 0)] : []),
      ...(sharded ? [fmt(r.perDeviceKvBytesPerToken, 0)] : []),
      fmt(r.fixedStateBytes, 0),
      r.compression !== null ? `${r.compression.toFixed(2)}×` : "",
      fmt(r.tokensPerSecond, 0),
    ],
  };
}

/** Renders the leaderboard in `format`. */
export function renderLeaderboard(board: Leaderboard, format: ReportFormat): string {
  if (format === "json") return JSON.stringify(jsonBoard(board), null, 2) + "\n";
  if (format === "csv") return renderCsv(board);
  const columns = boardColumns(board, compressionHeader(board));
  const header = ["model", "family", "cache", ...columns.header, "runs"];
  const body = board.rows.map((
    r,
  ) => [r.model, r.family ?? "", r.cacheKind, ...columns.cells(r), r.runs.join(",")]);
  const note = compressionNote(board);
  const parts = [render(header, body, format) + (note ? `\n${note}` : "")];
  for (const t of board.slices) {
    const sliceHeader = ["model", ...t.cells];
    const sliceBody = t.rows.map((r) => [
      r.model,
      ...t.cells.map((c) => withStderr(r.values[c] ?? null, r.stderr[c] ?? null)),
    ]);
    const title = `${t.task}/${t.metric} by cell`;
    parts.push(`${format === "markdown" ? "### " : ""}${title}\n\n` + render(sliceHeader, sliceBody, format));
  }
  for (const map of board.heatmaps) {
    const text = renderHeatmap(map);
    parts.push(format === "markdown" ? "```\n" + text + "```\n" : text);
  }
  return parts.join("\n");
}

/** The board as JSON, every object's keys in a fixed order whatever the board was built from. */
function jsonBoard(board: Leaderboard): unknown {
  const byColumn = (values: Record<string, number | null>) =>
    Object.fromEntries(board.columns.map((c) => [c, values[c] ?? null]));
  return {
    columns: board.columns,
    baseline: board.baseline,
    rows: board.rows.map((r) => ({
      model: r.model,
      family: r.family,
      cacheKind: r.cacheKind,
      runs: r.runs,
      scores: byColumn(r.scores),
      stderr: byColumn(r.stderr),
      average: r.average,
      kvBytesPerToken: r.kvBytesPerToken,
      kvFormula: r.kvFormula,
      fixedStateBytes: r.fixedStateBytes,
      simulatedKvBytesPerToken: r.simulatedKvBytesPerToken,
      perDeviceKvBytesPerToken: r.perDeviceKvBytesPerToken,
      compression: r.compression,
      baseline: r.baseline,
      tokensPerSecond: r.tokensPerSecond,
    })),
    slices: board.slices.map((t) => ({
      task: t.task,
      metric: t.metric,
      cells: t.cells,
      rows: t.rows.map((r) => ({
        model: r.model,
        values: Object.fromEntries(t.cells.map((c) => [c, r.values[c] ?? null])),
        stderr: Object.fromEntries(t.cells.map((c) => [c, r.stderr[c] ?? null])),
      })),
    })),
    heatmaps: board.heatmaps.map((h) => ({
      model: h.model,
      task: h.task,
      metric: h.metric,
      depths: h.depths,
      lengths: h.lengths,
      values: h.values,
    })),
    results: board.results.map((r) => ({
      model: r.model,
      runId: r.runId,
      task: r.task,
      metric: r.metric,
      numKvPairs: r.numKvPairs,
      contextLen: r.contextLen,
      depth: r.depth,
      value: r.value,
      stderr: r.stderr,
      n: r.n,
      primary: r.primary,
    })),
  };
}

/** One row of the rectangular table (`--format csv` and `parquet`), typed; null where empty. */
export type TableRow = {
  [K in (typeof CSV_COLUMNS)[number]]: K extends "model" | "task" | "metric" | "cache_kind" ? string
    : K extends "family" | "baseline" | "kv_formula" ? string | null
    : K extends "is_primary" ? boolean
    : number | null;
};

/** Every result with its model's columns: the rows of `--format csv` and `--format parquet`. */
export function tableRows(board: Leaderboard): TableRow[] {
  // Plain numbers only: NaN and ±Infinity (a diverged perplexity) are empty cells.
  const num = (v: number | null) => (v === null || !Number.isFinite(v) ? null : v);
  return board.results.map((r) => {
    const m = board.rows.find((row) => row.model === r.model)!;
    return {
      model: r.model,
      family: m.family,
      cache_kind: m.cacheKind,
      run_id: r.runId,
      task: r.task,
      metric: r.metric,
      num_kv_pairs: num(r.numKvPairs),
      context_len: num(r.contextLen),
      depth: num(r.depth),
      value: num(r.value),
      stderr: num(r.stderr),
      n: num(r.n),
      is_primary: r.primary,
      average: num(m.average),
      kv_bytes_per_token: num(m.kvBytesPerToken),
      kv_formula: m.kvFormula,
      fixed_state_bytes: num(m.fixedStateBytes),
      simulated_kv_bytes_per_token: num(m.simulatedKvBytesPerToken),
      per_device_kv_bytes_per_token: num(m.perDeviceKvBytesPerToken),
      compression: num(m.compression),
      baseline: m.baseline,
      tokens_per_s: num(m.tokensPerSecond),
    };
  });
}

/** One rectangular table (pandas' `read_csv` reads it as is): every result with its model's columns. */
function renderCsv(board: Leaderboard): string {
  const rows = tableRows(board).map((row) => CSV_COLUMNS.map((c) => String(row[c] ?? "")));
  return render([...CSV_COLUMNS], rows, "csv");
}

function fmt(value: number | null | undefined, digits: number): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  return value.toFixed(digits);
}

/** `value ± stderr` as lm-eval prints it, or the value alone where there is no stderr. */
function withStderr(value: number | null | undefined, stderr: number | null | undefined): string {
  const v = fmt(value, 4);
  return v !== "" && stderr !== null && stderr !== undefined && Number.isFinite(stderr)
    ? `${v} ± ${stderr.toFixed(4)}`
    : v;
}

function render(header: string[], body: string[][], format: ReportFormat): string {
  if (format === "csv") {
    const esc = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
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
