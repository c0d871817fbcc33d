import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { evaluate } from "../../../evals/evaluate.ts";
import { loadBundle } from "../../../evals/model/bundle.ts";
import { Store } from "../../../results/store.ts";
import { RULER_TASKS } from "../../../tasks/ruler/index.ts";
import { QA_SOURCES } from "../../../tasks/ruler/qa.ts";
import { SUITES } from "../../../tasks/registry.ts";
import { tempDir, writeParquet } from "../_fixtures.ts";
import { cellKeys, haystackDir, hotpotRows, LLAMA, squadRows, withContext, wordsFile } from "./_fixtures.ts";

Deno.test("All 13 RULER tasks run end to end on the tiny model and store a score per length", async () => {
  const data = tempDir();
  await writeParquet(data, QA_SOURCES.squad.repo, QA_SOURCES.squad.files[0].path, squadRows(6, 4));
  const hotpot = join(data, ...QA_SOURCES.hotpotqa.repo.split("/"), QA_SOURCES.hotpotqa.files[0].path);
  mkdirSync(join(hotpot, ".."), { recursive: true });
  writeFileSync(hotpot, JSON.stringify(hotpotRows()));
  const extra = { haystackDir: haystackDir(), wordsFile: wordsFile(), dataDir: data, download: false };
  const names = SUITES.ruler.tasks;
  const bundle = await loadBundle(LLAMA);
  const store = await Store.open(":memory:");
  const group = SUITES.ruler.groups![0];
  const { results } = await evaluate(bundle, store, {
    tasks: names.map((n) => withContext(RULER_TASKS[n], extra)),
    groups: [group],
    synthetic: { lengths: [2048] },
    maxLength: 2048,
    limit: 1,
    progress: false,
  });
  for (const name of names) {
    assert.deepEqual(cellKeys(results, name), ["null_rate@-/2048/-", "score@-/2048/-"], name);
    const score = results.find((r) => r.task === name && r.metric === "score" && r.contextLen === 2048)!;
    assert.equal(score.n, 1);
    assert.ok(score.value >= 0 && score.value <= 100);
  }
  const ruler = results.find((r) => r.task === "ruler" && r.metric === "score")!;
  assert.equal(ruler.n, names.length, "the ruler group pools the tasks run");
  const stored = await store.query("SELECT count(*)::INT AS n FROM samples WHERE context_len = 2048");
  assert.equal(stored[0].n, names.length);
  store.close();
});
