import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LanguageModel } from "../../../evals/lm.ts";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { ScoreGraph } from "../../../evals/model/score_graph.ts";
import { Rng } from "../../../evals/random.ts";
import type { TokenPair } from "../../../evals/requests.ts";

const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

/** Contexts of 1–20 tokens, each with continuations of 1–6 tokens; some contexts repeat. */
function pairs(vocab: number): TokenPair[] {
  const rng = new Rng(11);
  const out: TokenPair[] = [];
  for (let c = 0; c < 7; c++) {
    const context = Array.from({ length: c === 0 ? 1 : rng.int(2, 21) }, () => rng.int(3, vocab));
    for (let k = 0; k < 1 + (c % 4); k++) {
      out.push({ context, continuation: Array.from({ length: rng.int(1, 7) }, () => rng.int(3, vocab)) });
    }
  }
  return out;
}

for (const family of ["llama", "transmla", "xecomla", "zebra", "dma", "llama-fp16"]) {
  Deno.test(`${family}: the score graph gives the stepped prefix-reuse scores`, async () => {
    const model = await OnnxModel.load(join(fixtures, family));
    const graph = await ScoreGraph.load(model);
    try {
      const requests = pairs(model.vocabSize);
      const options = { batchSize: 3, maxLength: 256 };
      const stepped = new LanguageModel(model, null, options);
      const expected = await stepped.loglikelihoodTokens(requests);
      const lm = new LanguageModel(model, null, { ...options, scoreGraph: graph });
      const got = await lm.loglikelihoodTokens(requests);
      // float16 logits differ between the graph's float32 log-softmax and the host's float64 one
      // only by rounding, as for float32.
      got.forEach((r, i) => {
        assert.ok(
          Math.abs(r.logprob - expected[i].logprob) <= 1e-4,
          `pair ${i}: ${r.logprob} vs ${expected[i].logprob}`,
        );
        assert.equal(r.isGreedy, expected[i].isGreedy, `pair ${i} greedy`);
      });
      // The requests hold what the graph must get right: one- and many-token continuations, and
      // contexts shared by several of them.
      assert.ok(requests.some((p) => p.continuation.length === 1));
      assert.ok(requests.some((p) => p.continuation.length > 2));
      assert.ok(new Set(requests.map((p) => p.context.join())).size < requests.length);
      // One call per batch of contexts, and the same state measure as the stepped path.
      assert.equal(lm.stats.calls, Math.ceil(new Set(requests.map((p) => p.context.join())).size / 3));
      assert.equal(lm.stats.cache?.bytesPerToken, stepped.stats.cache?.bytesPerToken);
      assert.equal(lm.stats.cache?.fixedBytes, stepped.stats.cache?.fixedBytes);
    } finally {
      await graph.release();
      await model.release();
    }
  });
}

Deno.test("the score graph is fed only contexts that fit one prefill chunk", async () => {
  const model = await OnnxModel.load(join(fixtures, "llama"));
  const graph = await ScoreGraph.load(model);
  try {
    const requests = pairs(model.vocabSize);
    const options = { batchSize: 2, maxLength: 256, prefillChunk: 8 };
    const stepped = new LanguageModel(model, null, options);
    const expected = await stepped.loglikelihoodTokens(requests);
    const lm = new LanguageModel(model, null, { ...options, scoreGraph: graph });
    const got = await lm.loglikelihoodTokens(requests);
    got.forEach((r, i) => assert.ok(Math.abs(r.logprob - expected[i].logprob) <= 1e-4, `pair ${i}`));
    // Batches holding a context over 8 tokens went the stepped way, in more than one call; the
    // others took one call each, so fewer calls than stepping everything.
    const batches = Math.ceil(new Set(requests.map((p) => p.context.join())).size / 2);
    assert.ok(lm.stats.calls > batches, `${lm.stats.calls} calls for ${batches} batches`);
    assert.ok(lm.stats.calls < stepped.stats.calls, `${lm.stats.calls} vs ${stepped.stats.calls} stepped`);
  } finally {
    await graph.release();
    await model.release();
  }
});

Deno.test("the score graph scores one-token continuations alone (nothing to feed after the context)", async () => {
  const model = await OnnxModel.load(join(fixtures, "zebra"));
  const graph = await ScoreGraph.load(model);
  try {
    const requests = pairs(model.vocabSize).map((p) => ({
      context: p.context,
      continuation: p.continuation.slice(0, 1),
    }));
    const expected = await new LanguageModel(model, null, { batchSize: 4 }).loglikelihoodTokens(requests);
    const got = await new LanguageModel(model, null, { batchSize: 4, scoreGraph: graph }).loglikelihoodTokens(
      requests,
    );
    got.forEach((r, i) => {
      assert.ok(
        Math.abs(r.logprob - expected[i].logprob) <= 1e-4,
        `pair ${i}: ${r.logprob} vs ${expected[i].logprob}`,
      );
      assert.equal(r.isGreedy, expected[i].isGreedy);
    });
  } finally {
    await graph.release();
    await model.release();
  }
});

Deno.test("the score graph refuses rows it cannot score", async () => {
  const model = await OnnxModel.load(join(fixtures, "llama"));
  const graph = await ScoreGraph.load(model);
  try {
    await assert.rejects(
      graph.score([[5, 6]], [{ context: 1, continuation: [7] }]),
      /context 1: there are 1/,
    );
    await assert.rejects(graph.score([[5, 6]], [{ context: 0, continuation: [] }]), /empty continuation/);
    await assert.rejects(graph.score([[]], [{ context: 0, continuation: [7] }]), /empty context/);
  } finally {
    await graph.release();
    await model.release();
  }
});

Deno.test("a score.onnx that is not a score graph says what it lacks and how to write it", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "kvbench-score-" });
  for (const f of ["model.onnx", "kvbench.json", "config.json"]) {
    Deno.copyFileSync(join(fixtures, "llama", f), join(dir, f));
  }
  Deno.copyFileSync(join(fixtures, "llama", "model.onnx"), join(dir, "score.onnx"));
  const model = await OnnxModel.load(dir);
  try {
    await assert.rejects(
      ScoreGraph.load(model),
      /score\.onnx as the score graph of .* as it lacks inputs context_ids.*: write it again with .*--score`/,
    );
  } finally {
    await model.release();
  }
});

Deno.test("a missing score.onnx says how to write it", async () => {
  const model = await OnnxModel.load(join(fixtures, "llama-fp16-matmul"));
  try {
    await assert.rejects(ScoreGraph.load(model), /export_decode_loop\.py --model .* --score/);
  } finally {
    await model.release();
  }
});
