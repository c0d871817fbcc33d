/**
 * The task names and suites users can pass to --tasks.
 *
 * @module
 */

import { UserError } from "../evals/errors.ts";
import { LM_HARNESS_TASKS } from "./lm_harness/mod.ts";
import { mqarTask } from "./mqar.ts";
import suites from "./suites.json" with { type: "json" };
import type { Task, TaskGroup } from "./types.ts";

/** Every task by name. */
export const TASKS: Readonly<Record<string, Task>> = {
  mqar: mqarTask as Task,
  ...LM_HARNESS_TASKS,
};

/** A suite: a named list of tasks (and groups), declared in suites.json. */
export interface Suite {
  description: string;
  tasks: string[];
  groups?: TaskGroup[];
  /** Headline metric per task or group where it is not the task's first metric (e.g. acc_norm). */
  primary?: Record<string, string>;
  /** The tasks and groups whose headline metrics make up the suite's average, as a paper's table does. */
  average?: string[];
}

/** Every suite by name. */
export const SUITES: Readonly<Record<string, Suite>> = suites as Record<string, Suite>;

/**
 * Resolves a comma-separated list of task and suite names.
 *
 * @throws {UserError} naming every unknown entry and the known ones.
 */
export function resolveTasks(spec: string): { tasks: Task[]; groups: TaskGroup[] } {
  const names = spec.split(",").map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) {
    throw new UserError("Cannot run an empty --tasks list: name at least one task or suite");
  }
  const tasks: Task[] = [];
  const groups: TaskGroup[] = [];
  const unknown: string[] = [];
  const add = (name: string) => {
    const task = TASKS[name];
    if (!task) unknown.push(name);
    else if (!tasks.includes(task)) tasks.push(task);
  };
  for (const name of names) {
    const suite = SUITES[name];
    if (suite) {
      suite.tasks.forEach(add);
      groups.push(...(suite.groups ?? []));
    } else {
      add(name);
    }
  }
  if (unknown.length > 0) {
    throw new UserError(
      `Cannot run unknown task${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `"${u}"`).join(", ")}: ` +
        `known tasks are ${Object.keys(TASKS).join(", ")}; suites are ${Object.keys(SUITES).join(", ")}`,
    );
  }
  return { tasks, groups };
}
