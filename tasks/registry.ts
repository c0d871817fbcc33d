/**
 * The task names and suites users can pass to --tasks.
 *
 * @module
 */

import { UserError } from "../core/errors.ts";
import { LM_HARNESS_TASKS } from "./lm_harness/mod.ts";
import { mqarTask } from "./mqar.ts";
import { mqarTextTask } from "./mqar_text.ts";
import { niahTask } from "./niah.ts";
import { RULER_TASKS } from "./ruler/index.ts";
import suites from "./suites.json" with { type: "json" };
import type { Task, TaskGroup } from "../core/tasks.ts";

/** Every task by name. */
export const TASKS: Readonly<Record<string, Task>> = {
  mqar: mqarTask as Task,
  mqar_text: mqarTextTask as Task,
  niah: niahTask as Task,
  ...RULER_TASKS,
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
export function resolveTasks(spec: string): Selection {
  const names = spec.split(",").map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) {
    throw new UserError("Cannot run an empty --tasks list: name at least one task or suite");
  }
  const tasks: Task[] = [];
  const groups: TaskGroup[] = [];
  const primary: Record<string, string> = {};
  let average: string[] | null = null;
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
      for (const group of suite.groups ?? []) {
        if (!groups.some((g) => g.name === group.name)) groups.push(group);
      }
      Object.assign(primary, suite.primary ?? {});
      if (suite.average) average = [...new Set([...(average ?? []), ...suite.average])];
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
  return { tasks, groups, primary, average };
}

/** What a --tasks list resolves to. */
export interface Selection {
  /** Tasks to run, in order, without duplicates. */
  tasks: Task[];
  /** Groups to aggregate after the tasks, in order, without duplicates. */
  groups: TaskGroup[];
  /** Headline metric per task or group where a suite names one. */
  primary: Record<string, string>;
  /** Tasks and groups whose headline metrics make the average, if a suite says; else null. */
  average: string[] | null;
}
