import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { GenerateRequest } from "../../../core/requests.ts";
import { RowFields } from "../../../tasks/data/rows.ts";
import { sampleRng } from "../../../tasks/ruler/_draw.ts";
import { RULER_TASKS } from "../../../tasks/ruler/index.ts";
import { QA_SOURCES, qaSample, readHotpot, readSquad } from "../../../tasks/ruler/qa.ts";
import { tempDir, writeParquet } from "../_fixtures.ts";
import { context, hotpotRows, sentence, squadRows, tokenizer } from "./_fixtures.ts";

const fields = (rows: Record<string, unknown>[]) => rows.map((r, i) => new RowFields(r, "rows", i));

Deno.test("readSquad keeps answerable questions, sorted distinct paragraphs, and the article's others", () => {
  const set = readSquad(fields(squadRows()));
  assert.equal(set.docs.length, 6);
  assert.deepEqual(set.docs, [...set.docs].sort());
  assert.equal(set.qas.length, 6);
  const q = set.qas[0];
  assert.equal(q.query, "What code has paragraph 0-0?");
  assert.deepEqual(q.outputs, ["K00X", "code K00X"]);
  assert.ok(set.docs[q.context[0]].includes("K00X"));
  assert.equal(q.more.length, 2);
  for (const d of q.more) assert.match(set.docs[d], /paragraph 0-[12]/);
});

Deno.test("readHotpot joins each title and its sentences, from the JSON or the hub's layout", () => {
  const set = readHotpot(fields(hotpotRows(2)));
  assert.equal(set.qas.length, 2);
  assert.equal(set.qas[0].context.length, 3);
  assert.ok(set.docs.includes(`Harbour 0.0\n${sentence(0)} Boat 0 left first.`));
  const hub = readHotpot(fields(
    hotpotRows(2).map((r) => ({
      ...r,
      context: {
        title: (r.context as [string, string[]][]).map((c) => c[0]),
        sentences: (r.context as [string, string[]][]).map((c) => c[1]),
      },
    })),
  ));
  assert.deepEqual(hub, set);
});

Deno.test("a QA sample numbers its documents and always includes the gold ones", () => {
  const set = readSquad(fields(squadRows(4)));
  for (const n of [1, 3, 8, 40]) {
    const s = qaSample(set, 2, n, sampleRng("qa", n));
    const docs = s.input.match(/Document \d+:\n/g)!;
    assert.equal(docs.length, n);
    assert.ok(s.input.includes(set.docs[set.qas[2].context[0]]), "gold paragraph present");
    assert.deepEqual(s.outputs, set.qas[2].outputs);
    assert.ok(s.input.endsWith(`Question: ${set.qas[2].query} Answer:`));
  }
  const three = qaSample(set, 2, 3, sampleRng("qa"));
  assert.equal(three.input.match(/code of paragraph 0-\d/g)!.length, 3, "same-article paragraphs come first");
});

Deno.test("qa_1 and qa_2 read their files from --data-dir and fit each length", async () => {
  const dir = tempDir();
  await writeParquet(dir, QA_SOURCES.squad.repo, QA_SOURCES.squad.files[0].path, squadRows(6, 4));
  const hotpot = join(dir, ...QA_SOURCES.hotpotqa.repo.split("/"), QA_SOURCES.hotpotqa.files[0].path);
  mkdirSync(join(hotpot, ".."), { recursive: true });
  writeFileSync(hotpot, JSON.stringify(hotpotRows()));
  const ctx = context({ dataDir: dir, download: false, lengths: [1024], limit: 3 });
  for (const name of ["qa_1", "qa_2"]) {
    const prepared = await RULER_TASKS[name].prepare(ctx);
    assert.equal(prepared.length, 3);
    for (const p of prepared) {
      const input = (p.requests[0] as GenerateRequest).context;
      const doc = p.doc as { outputs: string[]; tokens: number; index: number };
      const tokens = tokenizer.encode(input, true).length + 32;
      assert.ok(tokens <= 1024 && tokens > 1024 - 120, `${name}: ${tokens}`);
      assert.ok(doc.outputs.some((o) => input.includes(o)));
    }
    assert.deepEqual(
      prepared.map((p) => (p.doc as { index: number }).index),
      [0, 1, 2],
      "questions in file order",
    );
  }
});

Deno.test("a missing QA file is a user error naming the exact file", async () => {
  const ctx = context({ dataDir: tempDir(), download: false, lengths: [1024] });
  await assert.rejects(
    () => RULER_TASKS.qa_2.prepare(ctx),
    /namlh2004\/hotpotqa\/hotpot_dev_distractor_v1\.json is missing/,
  );
  await assert.rejects(
    () => RULER_TASKS.qa_1.prepare(ctx),
    /rajpurkar\/squad_v2\/squad_v2\/validation-00000-of-00001\.parquet is missing/,
  );
});
