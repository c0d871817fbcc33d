import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { UserError } from "../../core/errors.ts";
import { evaluate } from "../../evals/evaluate.ts";
import { loadBundle } from "../../evals/model/bundle.ts";
import type { LoglikelihoodResponse } from "../../core/requests.ts";
import { Store } from "../../results/store.ts";
import type { Task } from "../../core/tasks.ts";

const bundle = await loadBundle(fileURLToPath(new URL("../fixtures/llama", import.meta.url)));

/** A two-choice task over made-up docs, reporting acc and acc_norm. */
function choiceTask(name: string, docs: number): Task<{ q: string; choices: string[] }> {
  return {
    name,
    version: 3,
    defaultFewshot: 0,
    metrics: {
      acc: { aggregation: "mean", higherIsBetter: true },
      acc_norm: { aggregation: "mean", higherIsBetter: true },
    },
    config: () => ({ task: name }),
    prepare: (ctx) => {
      const all = Array.from({ length: docs }, (_, i) => ({
        q: `Question ${i}: which word follows?\nAnswer:`,
        choices: [" river", " the boats go out before the sun"],
      }));
      ctx.onDataFile?.({
        repo: "kvbench/made-up",
        revision: "main",
        commit: null,
        path: `${name}.jsonl`,
        member: null,
        localPath: "/dev/null",
        origin: "data-dir",
        sha256: "0".repeat(64),
        bytes: 0,
      });
      const kept = all.slice(0, ctx.limit ?? all.length);
      return Promise.resolve(kept.map((doc, docId) => ({
        doc,
        docId,
        target: doc.choices[0],
        requests: doc.choices.map((c) => ({
          kind: "loglikelihood" as const,
          context: doc.q,
          continuation: c,
        })),
      })));
    },
    score: (p, responses) => {
      const ll = (responses as LoglikelihoodResponse[]).map((r) => r.logprob);
      const pick = (xs: number[]) => xs.indexOf(Math.max(...xs));
      return {
        acc: pick(ll) === 0 ? 1 : 0,
        acc_norm: pick(ll.map((l, i) => l / p.doc.choices[i].length)) === 0 ? 1 : 0,
      };
    },
  };
}

Deno.test("evaluate() marks each counted task's headline metric and the group, not its members", async () => {
  const store = await Store.open(":memory:");
  const a = choiceTask("a", 6);
  const b = choiceTask("b", 4);
  const c = choiceTask("c", 3);
  const { runId, results } = await evaluate(bundle, store, {
    tasks: [a, b, c],
    groups: [{ name: "ab", tasks: ["a", "b"], metrics: ["acc"] }],
    primary: { c: "acc_norm" },
  });
  const primaries = results.filter((r) => r.primary).map((r) => `${r.task}/${r.metric}`).sort();
  assert.deepEqual(primaries, ["ab/acc", "c/acc_norm"]);
  const group = results.find((r) => r.task === "ab")!;
  const ra = results.find((r) => r.task === "a" && r.metric === "acc")!;
  const rb = results.find((r) => r.task === "b" && r.metric === "acc")!;
  assert.equal(group.n, 10);
  assert.ok(Math.abs(group.value - (ra.value * 6 + rb.value * 4) / 10) < 1e-12, "size-weighted mean");
  const stored = await store.query(
    "SELECT task, metric FROM results WHERE run_id = $1 AND is_primary ORDER BY 1",
    [
      runId,
    ],
  );
  assert.deepEqual(stored, [{ task: "ab", metric: "acc" }, { task: "c", metric: "acc_norm" }]);
  const files = await store.query("SELECT task, repo, path FROM data_files WHERE run_id = $1 ORDER BY task", [
    runId,
  ]);
  assert.deepEqual(
    files.map((f) => f.path),
    ["a.jsonl", "b.jsonl", "c.jsonl"],
    "each task's data files are recorded",
  );
  store.close();
});

Deno.test("evaluate() follows a suite's explicit average list", async () => {
  const store = await Store.open(":memory:");
  const { results } = await evaluate(bundle, store, {
    tasks: [choiceTask("a", 2), choiceTask("b", 2)],
    average: ["b"],
  });
  assert.deepEqual(results.filter((r) => r.primary).map((r) => r.task), ["b"]);
  store.close();
});

Deno.test("evaluate() refuses a task with no samples rather than marking a NaN score done", async () => {
  const store = await Store.open(":memory:");
  await assert.rejects(
    () => evaluate(bundle, store, { tasks: [choiceTask("empty", 0)] }),
    (e) => e instanceof UserError && /Cannot run empty as it has no samples/.test(e.message),
  );
  assert.deepEqual(await store.query("SELECT status FROM runs"), [{ status: "failed" }]);
  assert.deepEqual(await store.query("SELECT count(*)::INTEGER AS n FROM results"), [{ n: 0 }]);
  store.close();
});
