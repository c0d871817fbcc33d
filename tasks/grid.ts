/**
 * The cells of a kv pairs × lengths sweep (MQAR, text MQAR): which a run builds, and which it
 * leaves out. A cell that cannot be built is an error when the user chose what makes it
 * impossible (--lengths for a length above the max length, --kv-pairs for too many keys, both
 * for pairs that don't fit a length); one that comes from a default grid is left out with a note,
 * so no cell is ever dropped silently. A grid with no cell left is an error.
 *
 * @module
 */

import { UserError } from "../core/errors.ts";
import type { TaskContext } from "../core/tasks.ts";

/** One cell of the sweep. */
export interface GridCell {
  numKvPairs: number;
  length: number;
}

/** Why a cell cannot be built, which flags make it so, and how to fix it. */
export interface CellProblem {
  /** Reason, e.g. "64 pairs and their queries need at least 256 tokens". */
  why: string;
  /** The flag change that fixes it, e.g. "pass --lengths of at least 256". */
  fix: string;
  /** The coordinate(s) at fault: an error only where the user gave them. */
  on: "length" | "kvPairs" | "both";
}

/** A planned sweep: the cells to build and notes on those left out of a default grid. */
export interface GridPlan {
  cells: GridCell[];
  notes: string[];
}

/** `kv=4 × len=64`. */
export function cellLabel(cell: GridCell): string {
  return `kv=${cell.numKvPairs} × len=${cell.length}`;
}

/**
 * Plans the sweep of `task`: --kv-pairs × --lengths, each defaulting to `defaults`. Lengths above
 * the model's max length are refused before `problem` is asked about a cell.
 *
 * @throws {UserError} for a cell the user asked for that cannot be built, or when none can.
 */
export function planGrid(
  task: string,
  ctx: TaskContext,
  defaults: { kvPairs: readonly number[]; lengths: readonly number[] },
  problem: (cell: GridCell) => CellProblem | null,
): GridPlan {
  const kvs = ctx.kvPairs ?? [...defaults.kvPairs];
  const lengths = ctx.lengths ?? [...defaults.lengths];
  const cells: GridCell[] = [];
  const left: { cell: GridCell; problem: CellProblem }[] = [];
  for (const numKvPairs of kvs) {
    for (const length of lengths) {
      const cell = { numKvPairs, length };
      const found: CellProblem | null = length > ctx.maxLength
        ? {
          why: `${length} tokens exceed the model's max length ${ctx.maxLength}`,
          fix: `pass --lengths with values up to ${ctx.maxLength}, or raise --max-length`,
          on: "length",
        }
        : problem(cell);
      if (found === null) {
        cells.push(cell);
        continue;
      }
      const asked = found.on === "length"
        ? ctx.lengths !== null
        : found.on === "kvPairs"
        ? ctx.kvPairs !== null
        : ctx.lengths !== null && ctx.kvPairs !== null;
      if (asked) {
        throw new UserError(`Cannot build the ${task} cell ${cellLabel(cell)} as ${found.why}: ${found.fix}`);
      }
      left.push({ cell, problem: found });
    }
  }
  if (cells.length === 0) {
    if (left.length === 0) {
      throw new UserError(`Cannot run ${task} on an empty grid: pass --kv-pairs and --lengths`);
    }
    const [{ cell, problem: first }] = left;
    throw new UserError(
      `Cannot run ${task} as no cell of its grid can be built (${
        cellLabel(cell)
      }: ${first.why}): ${first.fix}`,
    );
  }
  const notes = left.length === 0 ? [] : [
    `leaves out ${left.map(({ cell, problem }) => `${cellLabel(cell)} (${problem.why})`).join(", ")} ` +
    `of its default grid; pass --kv-pairs and --lengths to choose the cells`,
  ];
  return { cells, notes };
}
