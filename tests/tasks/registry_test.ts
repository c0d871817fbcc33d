import assert from "node:assert/strict";
import { UserError } from "../../core/errors.ts";
import { resolveTasks, SUITES, TASKS } from "../../tasks/registry.ts";

Deno.test("resolveTasks() expands suites and removes duplicates", () => {
  const { tasks } = resolveTasks("mqar-default,mqar");
  assert.deepEqual(tasks.map((t) => t.name), ["mqar"]);
});

Deno.test("resolveTasks() names every unknown task and lists the known ones", () => {
  assert.throws(
    () => resolveTasks("nope,mqar,also_nope"),
    (e) =>
      e instanceof UserError && /"nope", "also_nope"/.test(e.message) &&
      /known tasks are .*mqar/.test(e.message),
  );
});

Deno.test("every suite names only registered tasks", () => {
  for (const [name, suite] of Object.entries(SUITES)) {
    for (const task of suite.tasks) assert.ok(TASKS[task], `suite ${name} names unknown task ${task}`);
  }
});
