import assert from "node:assert/strict";
import { allGroups, renderTaskList, taskDescription } from "../../tasks/catalog.ts";
import { SUITES, TASKS } from "../../tasks/registry.ts";

Deno.test("every registered task has a one-line description", () => {
  for (const name of Object.keys(TASKS)) {
    const text = taskDescription(name);
    assert.ok(text && text.length > 10 && !text.includes("\n"), `task ${name} needs a description`);
  }
  assert.equal(taskDescription("no_such_task"), null);
});

Deno.test("renderTaskList() gives every task, group and suite a line with its description", () => {
  const lines = renderTaskList().split("\n");
  const line = (name: string) => lines.find((l) => l.trim().split(/\s+/)[0] === name);
  for (const name of Object.keys(TASKS)) assert.ok(line(name)?.includes(taskDescription(name)!), name);
  for (const [name, suite] of Object.entries(SUITES)) {
    assert.ok(suite.description, `suite ${name} needs a description`);
    // "mmlu" and "ruler" are both a group and a suite: one line each.
    assert.ok(lines.some((l) => l.trim().startsWith(name) && l.includes(suite.description)), name);
  }
  const groups = allGroups();
  assert.ok(groups.some((g) => g.group.name === "mmlu_stem" && g.suites.includes("mmlu")));
  for (const { group } of groups) {
    assert.ok(lines.some((l) => l.trim().startsWith(group.name) && / over \d+ members/.test(l)), group.name);
  }
});
