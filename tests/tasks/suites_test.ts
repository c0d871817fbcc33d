import assert from "node:assert/strict";
import { MMLU_GROUPS } from "../../tasks/lm_harness/mmlu.ts";
import { resolveTasks, SUITES, TASKS } from "../../tasks/registry.ts";

Deno.test("every suite's groups pool known members, and its primary metrics exist", () => {
  for (const [name, suite] of Object.entries(SUITES)) {
    const groups = new Set<string>();
    for (const group of suite.groups ?? []) {
      // A group may pool tasks or groups aggregated before it.
      for (const member of group.tasks) {
        assert.ok(suite.tasks.includes(member) || groups.has(member), `${name}: ${member}`);
      }
      groups.add(group.name);
    }
    for (const [task, metric] of Object.entries(suite.primary ?? {})) {
      assert.ok(TASKS[task]?.metrics[metric], `${name}: ${task} has no metric ${metric}`);
    }
    for (const entry of suite.average ?? []) {
      assert.ok(suite.tasks.includes(entry) || groups.has(entry), `${name}: ${entry}`);
    }
  }
});

Deno.test("the MMLU groups in suites.json are the ones mmlu.ts defines", () => {
  for (const name of ["mmlu", "xecomla-paper", "zebra-paper", "lm-harness-core"]) {
    assert.deepEqual(SUITES[name].groups, MMLU_GROUPS, name);
  }
});

Deno.test("xecomla-paper: 9 table entries, acc_norm for ARC, HellaSwag, OBQA and PIQA; zebra-paper drops PubMedQA", () => {
  const { tasks, groups } = resolveTasks("xecomla-paper");
  assert.equal(tasks.length, 8 + 57);
  assert.equal(groups.at(-1)?.name, "mmlu");
  assert.deepEqual(SUITES["xecomla-paper"].primary, {
    arc_challenge: "acc_norm",
    arc_easy: "acc_norm",
    hellaswag: "acc_norm",
    openbookqa: "acc_norm",
    piqa: "acc_norm",
  });
  assert.equal(SUITES["xecomla-paper"].average?.length, 9);
  assert.deepEqual(
    SUITES["zebra-paper"].average,
    SUITES["xecomla-paper"].average?.filter((t) => t !== "pubmedqa"),
  );
  assert.ok(!resolveTasks("zebra-paper").tasks.some((t) => t.name === "pubmedqa"));
});
