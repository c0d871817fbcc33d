/**
 * The tasks: lm-eval's suites rebuilt (exact prompts and metrics), RULER, needle-in-a-haystack,
 * MQAR and its text form, found by name or suite through the registry.
 *
 * @example What `--tasks` names resolve to
 * ```ts
 * import { resolveTasks, TASKS } from "./mod.ts";
 * const { tasks } = resolveTasks("mqar");
 * if (tasks.length !== 1 || tasks[0] !== TASKS.mqar) throw new Error("mqar is one task");
 * ```
 *
 * @module
 */

export { resolveTasks, type Selection, type Suite, SUITES, TASKS } from "./registry.ts";
export { mqar, type MqarConfig, type MqarExample, mqarTask } from "./mqar.ts";
