/**
 * What the HTML report needs beyond the leaderboard: each row's provenance (model sha256 and
 * kvbench commit of its runs) and tokens/s per task, read from the `runs` and `perf` tables.
 *
 * @module
 */

import type { Leaderboard, LeaderboardOptions } from "../report.ts";
import type { Store } from "../store.ts";

/** Where one leaderboard row comes from: its runs' model hashes and kvbench commits. */
export interface Provenance {
  runs: number[];
  modelSha256: string[];
  kvbenchCommits: string[];
}

/** Tokens per second of one model on one task. */
export interface TaskSpeed {
  model: string;
  task: string;
  tokensPerSecond: number;
  runId: number;
}

/** The extra data of the page. */
export interface PageData {
  /** Model name → provenance. */
  provenance: Record<string, Provenance>;
  speeds: TaskSpeed[];
}

/**
 * Reads provenance and per-task speed for the board's models. Speed per model × task comes from
 * the latest finished run (among `options.runs`, if given) that computed anything for the task,
 * as the leaderboard's own tokens/s does per model.
 */
export async function loadPageData(
  store: Store,
  board: Leaderboard,
  options: LeaderboardOptions = {},
): Promise<PageData> {
  const provenance: Record<string, Provenance> = {};
  const allIds = board.rows.flatMap((r) => r.runs);
  // Ids and names come from the database; ids are integers, so they can go into the SQL as text.
  const meta = allIds.length === 0 ? [] : await store.query(
    `SELECT id, model_sha256, kvbench_commit FROM runs WHERE id IN (${allIds.join(", ")}) ORDER BY id`,
  );
  for (const row of board.rows) {
    const mine = meta.filter((m) => row.runs.includes(m.id as number));
    const distinct = (key: string) => [...new Set(mine.map((m) => String(m[key] ?? "unknown")))];
    provenance[row.model] = {
      runs: row.runs,
      modelSha256: distinct("model_sha256"),
      kvbenchCommits: distinct("kvbench_commit"),
    };
  }
  const models = board.rows.map((r) => r.model);
  if (models.length === 0) return { provenance, speeds: [] };
  const runFilter = options.runs?.length ? `AND r.id IN (${options.runs.join(", ")})` : "";
  // Model names are user data: quoted as SQL string literals.
  const names = models.map((m) => `'${m.replaceAll("'", "''")}'`).join(", ");
  const rows = await store.query(
    `WITH ranked AS (
       SELECT r.model_name, p.task, p.run_id, sum(p.tokens) AS tokens, sum(p.seconds) AS seconds,
              row_number() OVER (PARTITION BY r.model_name, p.task ORDER BY p.run_id DESC) AS rank
         FROM perf p JOIN runs r ON r.id = p.run_id
        WHERE r.status = 'done' AND p.tokens > 0 AND p.seconds > 0 ${runFilter}
          AND r.model_name IN (${names})
        GROUP BY r.model_name, p.task, p.run_id)
     SELECT * FROM ranked WHERE rank = 1 ORDER BY model_name, task`,
  );
  const speeds = rows.map((r) => ({
    model: r.model_name as string,
    task: r.task as string,
    tokensPerSecond: (r.tokens as number) / (r.seconds as number),
    runId: r.run_id as number,
  }));
  return { provenance, speeds };
}
