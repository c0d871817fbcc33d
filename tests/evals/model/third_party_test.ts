/**
 * A third-party-style export (tests/fixtures/llama-one-token: the tiny llama with the square causal
 * mask Expand of onnxruntime-genai's and optimum's exports, written by
 * scripts/families/third_party.py) takes several new tokens only with an empty past. kvbench must
 * find that at load and feed it whole prompts and one token at a time, with the scores the tiny
 * llama gives through chunked prefill and shared-context scoring.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ModelRunError } from "../../../core/errors.ts";
import { evaluate } from "../../../evals/evaluate.ts";
import { LanguageModel } from "../../../evals/lm.ts";
import { loadBundle } from "../../../evals/model/bundle.ts";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { TextTokenizer } from "../../../evals/model/tokenizer.ts";
import { Stream } from "../../../evals/model/stream.ts";
import type { Request } from "../../../core/requests.ts";
import { Store } from "../../../results/store.ts";
import { piqa } from "../../../tasks/lm_harness/piqa.ts";
import { niahTask } from "../../../tasks/niah.ts";
import { RULER_TASKS } from "../../../tasks/ruler/index.ts";
import { tempDir, writeParquet } from "../../tasks/_fixtures.ts";
import { haystackDir, withContext, wordsFile } from "../../tasks/ruler/_fixtures.ts";

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));
const ONE_TOKEN = fixture("llama-one-token");
const LLAMA = fixture("llama");

Deno.test("the load probe tells a graph that takes no chunk after a past from one that does", async () => {
  const restricted = await OnnxModel.load(ONE_TOKEN);
  const plain = await OnnxModel.load(LLAMA);
  assert.equal(restricted.chunksAfterPast, false);
  assert.equal(plain.chunksAfterPast, true);
  await restricted.release();
  await plain.release();
});

Deno.test("onnxruntime's failure inside a run is one line naming the model, the call and the shapes", async () => {
  const model = await OnnxModel.load(ONE_TOKEN);
  try {
    const { logits, stream } = await Stream.start(model, 1).step([[5, 6, 7]], "left");
    logits.dispose();
    // Stream refuses it up front; the model's own call shows what onnxruntime says.
    await assert.rejects(() => stream.finish([[8, 9]], "right"), /Cannot feed 2 tokens after a past of 3/);
    const error = await model.forward({
      inputIds: BigInt64Array.of(8n, 9n),
      attentionMask: new BigInt64Array(5).fill(1n),
      positionIds: BigInt64Array.of(3n, 4n),
      rows: 1,
      len: 2,
      pastLen: 3,
      states: stream.states,
      fetchStates: false,
      call: "score",
    }).then(() => null, (e) => e);
    assert.ok(error instanceof ModelRunError, String(error));
    assert.match(
      error.message,
      /^Cannot run llama-one-token \(score: input_ids \[1, 2\] after a past of 3\)/,
    );
    assert.match(error.message, /expand/i);
    assert.ok(!error.message.includes("\n"), "one line");
    stream.dispose();
  } finally {
    await model.release();
  }
});

Deno.test("a one-token export scores, rolls and generates as the same model fed in chunks does", async () => {
  const tokenizer = TextTokenizer.load(LLAMA);
  const requests: Request[] = [
    ...["The river is calm when", "Numbers such as 1024 and 2048 appear in lengths; the model reads them"]
      .flatMap((context) =>
        [" it rains", " the wind stops blowing", " no"].map((continuation) => ({
          kind: "loglikelihood" as const,
          context,
          continuation,
        }))
      ),
    { kind: "loglikelihood_rolling", text: "A long text is scored in windows, each from the start." },
    { kind: "generate_until", context: "When the sky is clear", until: ["\n\n"], maxGenToks: 8 },
    { kind: "token_argmax", tokens: [5, 9, 30, 31, 40, 41], positions: [1, 4] },
  ];
  const run = async (dir: string) => {
    const model = await OnnxModel.load(dir);
    // Chunks of 4 make the tiny llama feed chunks after a past; the restricted copy must not.
    const lm = new LanguageModel(model, tokenizer, { batchSize: 3, prefillChunk: 4, maxLength: 16 });
    const out = await lm.run(requests);
    await model.release();
    return { out, prefixReuse: lm.options.prefixReuse };
  };
  const want = await run(LLAMA);
  const got = await run(ONE_TOKEN);
  assert.equal(want.prefixReuse, true);
  assert.equal(got.prefixReuse, false, "shared-context scoring is off for the restricted graph");
  got.out.forEach((g, i) => {
    const w = want.out[i];
    assert.equal(g.kind, w.kind);
    if (
      (g.kind === "loglikelihood" && w.kind === "loglikelihood") ||
      (g.kind === "loglikelihood_rolling" && w.kind === "loglikelihood_rolling")
    ) {
      assert.ok(Math.abs(g.logprob - w.logprob) <= 1e-5, `request ${i}: ${g.logprob} vs ${w.logprob}`);
      if (g.kind === "loglikelihood" && w.kind === "loglikelihood") assert.equal(g.isGreedy, w.isGreedy);
    } else {
      assert.deepEqual(g, w, `request ${i}`);
    }
  });
});

Deno.test("a one-token export runs lm-eval tasks, RULER and NIAH end to end and records how it was fed", async () => {
  const bundle = await loadBundle(ONE_TOKEN);
  const store = await Store.open(":memory:");
  const data = tempDir();
  await writeParquet(data, "baber/piqa", "piqa_validation.parquet", [
    {
      goal: "Keep bread fresh longer",
      sol1: "Store it in a sealed bag.",
      sol2: "Leave it in the sun.",
      label: 0,
    },
    { goal: "Cool a drink quickly", sol1: "Put it in ice water.", sol2: "Put it in the oven.", label: 0 },
  ]);
  const extra = { haystackDir: haystackDir(), wordsFile: wordsFile(), dataDir: data, download: false };
  const { runId, results } = await evaluate(bundle, store, {
    tasks: [
      withContext(piqa, extra),
      withContext(RULER_TASKS.niah_single_1, extra),
      withContext(RULER_TASKS.vt, extra),
      withContext(niahTask, { ...extra, depths: [50] }),
    ],
    synthetic: { lengths: [2048] },
    maxLength: 2048,
    limit: 1,
    progress: false,
  });
  for (const task of ["piqa", "niah_single_1", "vt", "niah"]) {
    assert.ok(results.some((r) => r.task === task && Number.isFinite(r.value)), task);
  }
  const [run] = await store.query(`SELECT status, args FROM runs WHERE id = ${runId}`);
  assert.equal(run.status, "done");
  assert.equal(JSON.parse(String(run.args)).feeding, "whole-prompt");
  store.close();
  await bundle.model.release();
});
