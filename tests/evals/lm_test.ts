import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { cutAtStop, LanguageModel } from "../../evals/lm.ts";
import { OnnxModel } from "../../evals/model/onnx_model.ts";
import { Stream } from "../../evals/model/stream.ts";
import { TextTokenizer } from "../../evals/model/tokenizer.ts";
import { Rng } from "../../core/random.ts";
import type { LoglikelihoodRequest, LoglikelihoodResponse, Request } from "../../core/requests.ts";

/** Index of the largest value, the first on ties: the host reference for the device's argmax. */
function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

const dir = fileURLToPath(new URL("../fixtures/llama", import.meta.url));
const model = await OnnxModel.load(dir);
const tokenizer = TextTokenizer.load(dir);

/** Multiple-choice style requests: several continuations per context, contexts of varied length. */
function mcRequests(): LoglikelihoodRequest[] {
  const contexts = [
    "Question: Which layer keeps the latent vector?\nAnswer:",
    "The river is calm when",
    "A",
    "Numbers such as 1024 and 2048 appear in lengths; the model reads them one chunk at a time and",
  ];
  const choices = [" the attention layer", " the sky", " nobody had read that far yet", " 4096", ""];
  return contexts.flatMap((context) =>
    choices.map((c) => ({ kind: "loglikelihood" as const, context, continuation: c }))
  );
}

async function score(requests: Request[], batchSize: number, prefixReuse: boolean) {
  const lm = new LanguageModel(model, tokenizer, { batchSize, prefixReuse, addBos: true, maxLength: 256 });
  return (await lm.run(requests)) as LoglikelihoodResponse[];
}

/** Token pairs: several contexts of each of a few lengths (so batches hold more than one row). */
function tokenPairs() {
  const rng = new Rng(11);
  return [5, 9, 9, 9, 14, 14, 30].flatMap((n) => {
    const context = Array.from({ length: n }, () => rng.int(3, 500));
    return [1, 2, 4, 2].map((m) => ({
      context,
      continuation: Array.from({ length: m }, () => rng.int(3, 500)),
    }));
  });
}

Deno.test("the load probe pairs one-token one-row calls only where the CPU kernels need it", async () => {
  const expected: Record<string, boolean> = {
    llama: false,
    "llama-fp16": false,
    transmla: true,
    xecomla: true,
    zebra: true,
  };
  for (const [fixture, pairs] of Object.entries(expected)) {
    const m = await OnnxModel.load(fileURLToPath(new URL(`../fixtures/${fixture}`, import.meta.url)));
    assert.equal(m.pairsSingleRows, pairs, fixture);
    await m.release();
  }
});

Deno.test("on CPU scores and generations are bit-identical across batch sizes 1, 3, 8 and 32", async () => {
  const text: Request[] = [
    ...mcRequests(),
    { kind: "loglikelihood_rolling", text: "The harness reads each model from a directory and runs it." },
    { kind: "generate_until", context: "When the sky is clear", until: ["\n\n"], maxGenToks: 6 },
    { kind: "generate_until", context: "A small model", until: ["\n\n"], maxGenToks: 6 },
    { kind: "token_argmax", tokens: [5, 9, 30, 31, 40, 41], positions: [1, 4] },
    { kind: "token_argmax", tokens: [7, 8, 9, 10, 11, 12], positions: [0, 5] },
  ];
  for (
    const fixture of [
      "llama",
      "llama-fp16",
      "llama-fp16-matmul",
      "llama-fused",
      "llama-fused-fp16",
      "llama-static",
      "llama-static-fp16",
      "transmla",
      "xecomla",
      "xecomla-fused",
      "xecomla-static",
      "xecomla-static-fp16",
      "zebra",
      "dma",
      "deepseek-v2",
      "deepseek-v3",
      "deepseek-v2-fused",
      "deepseek-v3-fused",
      "plm",
      "plm-fused",
      "minicpm3",
    ]
  ) {
    const dir = fileURLToPath(new URL(`../fixtures/${fixture}`, import.meta.url));
    const m = await OnnxModel.load(dir);
    const tok = TextTokenizer.load(dir);
    try {
      for (const prefixReuse of [true, false]) {
        const run = async (batchSize: number) => {
          const lm = new LanguageModel(m, tok, { batchSize, prefixReuse, addBos: true, maxLength: 64 });
          assert.equal(lm.options.sameLengthBatches, true, "CPU batches rows of one length");
          return [await lm.loglikelihoodTokens(tokenPairs()), await lm.run(text)];
        };
        const one = await run(1);
        for (const batchSize of [3, 8, 32]) {
          assert.deepEqual(
            await run(batchSize),
            one,
            `${fixture}, prefix reuse ${prefixReuse}, batch ${batchSize}`,
          );
        }
      }
    } finally {
      await m.release();
    }
  }
});

Deno.test("prefix reuse gives the same numbers as scoring each request from scratch", async () => {
  const requests = mcRequests();
  const shared = await score(requests, 4, true);
  const plain = await score(requests, 4, false);
  shared.forEach((r, i) => {
    assert.ok(
      Math.abs(r.logprob - plain[i].logprob) <= 1e-5,
      `request ${i}: ${r.logprob} vs ${plain[i].logprob}`,
    );
    assert.equal(r.isGreedy, plain[i].isGreedy);
  });
  assert.ok(shared.some((r) => r.logprob < -1), "scores are real log-probabilities");
  assert.equal(shared[4].logprob, 0, "an empty continuation scores 0");
});

Deno.test("prefix reuse runs each distinct context once", async () => {
  // Padded batches, as on CUDA: CPU's default puts only rows of one length in a call.
  const lm = new LanguageModel(model, tokenizer, { batchSize: 32, addBos: true, sameLengthBatches: false });
  await lm.run(mcRequests());
  // one call for the 4 contexts, one for the continuations that have more than one token
  assert.equal(lm.stats.calls, 2);
});

Deno.test("from scratch, requests that differ only in their last token run once, each scored alone", async () => {
  // lm-eval's logits cache: four one-token answers of one question, two answers that share all
  // but their last token, and another question.
  const question = [5, 9, 30, 31, 40];
  const pairs = [
    ...[60, 61, 62, 63].map((t) => ({ context: question, continuation: [t] })),
    { context: question, continuation: [70, 71] },
    { context: question, continuation: [70, 72] },
    { context: [7, 8], continuation: [9] },
  ];
  const lm = new LanguageModel(model, null, { batchSize: 8, prefixReuse: false, sameLengthBatches: false });
  const together = await lm.loglikelihoodTokens(pairs);
  // Three distinct inputs, in one call of 5 + 6 + 2 tokens.
  assert.deepEqual([lm.stats.calls, lm.stats.tokens], [1, 13]);
  for (const [i, pair] of pairs.entries()) {
    const [alone] = await new LanguageModel(model, null, { prefixReuse: false }).loglikelihoodTokens([pair]);
    assert.ok(Math.abs(alone.logprob - together[i].logprob) < 1e-5, `pair ${i}`);
    assert.equal(alone.isGreedy, together[i].isGreedy, `pair ${i}`);
  }
});

Deno.test("loglikelihood equals the sum of per-token log-softmax of a plain forward pass", async () => {
  const context = tokenizer.encode("The quick test runs", true);
  const continuation = tokenizer.encode(" on two cores", false);
  const lm = new LanguageModel(model, tokenizer, { addBos: true });
  const [result] = await lm.loglikelihoodTokens([{ context, continuation }]);
  const { logits } = await Stream.start(model, 1).step([[...context, ...continuation]], "right");
  let expected = 0;
  continuation.forEach((t, j) => {
    const row = logits.at(0, context.length - 1 + j);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
    expected += row[t] - lse;
  });
  assert.ok(Math.abs(result.logprob - expected) < 1e-5);
});

Deno.test("loglikelihood_rolling sums disjoint windows and matches one long pass", async () => {
  const text = "The harness reads each model from a directory and runs it one chunk at a time.";
  const ids = tokenizer.encode(text, false);
  const long = new LanguageModel(model, tokenizer, { maxLength: 256 });
  const short = new LanguageModel(model, tokenizer, { maxLength: 7 });
  const [a] = await long.run([{ kind: "loglikelihood_rolling", text }]);
  const [b] = await short.run([{ kind: "loglikelihood_rolling", text }]);
  assert.equal(a.kind, "loglikelihood_rolling");
  assert.equal(b.kind, "loglikelihood_rolling");
  if (a.kind !== "loglikelihood_rolling" || b.kind !== "loglikelihood_rolling") return;
  assert.equal(a.tokens, ids.length);
  assert.equal(b.tokens, ids.length);
  const [whole] = await long.loglikelihoodTokens([{ context: [tokenizer.prefixTokenId], continuation: ids }]);
  assert.ok(Math.abs(a.logprob - whole.logprob) < 1e-4);
  assert.notEqual(a.logprob.toFixed(3), b.logprob.toFixed(3), "shorter windows see less context");
});

Deno.test("generate_until decodes greedily from the state, as recomputing the prefix does", async () => {
  const prompt = "When the sky is clear";
  const lm = new LanguageModel(model, tokenizer, { addBos: true, batchSize: 2 });
  const [result, other] = await lm.run([
    { kind: "generate_until", context: prompt, until: ["\n\n"], maxGenToks: 12 },
    { kind: "generate_until", context: "A small model", until: ["\n\n"], maxGenToks: 5 },
  ]);
  // Reference: recompute the whole sequence each step, no state reuse.
  const ids = tokenizer.encode(prompt, true);
  const generated: number[] = [];
  for (let i = 0; i < 12; i++) {
    const { logits } = await Stream.start(model, 1).step([[...ids, ...generated]], "left");
    const next = argmax(logits.last(0));
    if (next === tokenizer.eosId) break;
    generated.push(next);
    if (tokenizer.decode(generated).includes("\n\n")) break;
  }
  assert.equal(
    result.kind === "generate_until" && result.text,
    cutAtStop(tokenizer.decode(generated), ["\n\n"]),
  );
  assert.ok(other.kind === "generate_until");
});

Deno.test("generate_until stops at the earliest stop string and cuts it off", () => {
  assert.equal(cutAtStop("abc. def\n\nghi", ["\n\n", "."]), "abc");
  assert.equal(cutAtStop("no stop", ["\n\n"]), "no stop");
});

Deno.test("token_argmax returns the argmax at the asked positions", async () => {
  const tokens = [5, 9, 30, 31, 40, 41];
  const lm = new LanguageModel(model, tokenizer);
  const [result] = await lm.run([{ kind: "token_argmax", tokens, positions: [1, 4] }]);
  const { logits } = await Stream.start(model, 1).step([tokens], "right");
  assert.deepEqual(result.kind === "token_argmax" && result.predictions, [
    argmax(logits.at(0, 1)),
    argmax(logits.at(0, 4)),
  ]);
});

Deno.test("Stream refuses left padding in the middle of a stream", async () => {
  const { stream } = await Stream.start(model, 2).step([[5, 6], [7]], "left");
  await assert.rejects(() => stream.step([[1, 2], [3]], "left"), /padding would sit between/);
});

Deno.test("chunked prefill gives the same scores and generations as one-shot prefill", async () => {
  const requests: Request[] = [
    ...mcRequests(),
    {
      kind: "generate_until",
      context: "The harness reads each model from a directory and",
      until: ["\n"],
      maxGenToks: 6,
    },
  ];
  const whole = await new LanguageModel(model, tokenizer, { addBos: true, batchSize: 3 }).run(requests);
  const chunked = await new LanguageModel(model, tokenizer, { addBos: true, batchSize: 3, prefillChunk: 4 })
    .run(
      requests,
    );
  whole.forEach((r, i) => {
    const c = chunked[i];
    if (r.kind === "loglikelihood" && c.kind === "loglikelihood") {
      assert.ok(Math.abs(r.logprob - c.logprob) <= 1e-5, `request ${i}`);
      assert.equal(r.isGreedy, c.isGreedy);
    } else {
      assert.deepEqual(c, r);
    }
  });
});

Deno.test("autoBatch halves the batch on out-of-memory errors and keeps the scores", async () => {
  // A model that "runs out of memory" above 3 rows per call.
  const flaky = await OnnxModel.load(fileURLToPath(new URL("../fixtures/llama", import.meta.url)));
  const forward = flaky.forward.bind(flaky);
  flaky.forward = (feeds) => {
    if (feeds.rows > 3) return Promise.reject(new Error("Failed to allocate memory for requested buffer"));
    return forward(feeds);
  };
  const requests = mcRequests();
  const padded = { addBos: true, sameLengthBatches: false };
  const lm = new LanguageModel(flaky, tokenizer, { batchSize: 16, autoBatch: true, ...padded });
  const got = (await lm.run(requests)) as LoglikelihoodResponse[];
  // Contexts fit 2 a call once the continuations' 4 × 2 rows have failed; those fit at 2 rows.
  assert.equal(lm.batchSize, 1);
  assert.equal(lm.continuationRows, 2);
  const want = await score(requests, 1, true);
  got.forEach((r, i) => assert.ok(Math.abs(r.logprob - want[i].logprob) <= 1e-5));
  const strict = new LanguageModel(flaky, tokenizer, { batchSize: 16, ...padded });
  await assert.rejects(() => strict.run(requests), /Failed to allocate/);
  await flaky.release();
});

Deno.test("every family scores alike with prefix reuse and from scratch (left-padded, logits of the tails only)", async () => {
  const pairs = [
    { context: [5, 9, 14, 3, 22, 7, 8], continuation: [30, 31, 32] },
    { context: [5, 9, 14, 3, 22, 7, 8], continuation: [40] },
    { context: [11, 12], continuation: [13, 14, 15, 16, 17] },
    { context: [19, 4, 4, 4], continuation: [21, 22] },
    { context: [19, 4, 4, 4], continuation: [23, 24, 25] },
  ];
  for (const family of ["zebra", "dma", "xecomla", "transmla"]) {
    const m = await OnnxModel.load(fileURLToPath(new URL(`../fixtures/${family}`, import.meta.url)));
    try {
      const shared = await new LanguageModel(m, null, { batchSize: 3 }).loglikelihoodTokens(pairs);
      const plain = await new LanguageModel(m, null, { batchSize: 3, prefixReuse: false })
        .loglikelihoodTokens(pairs);
      // The reference: each pair alone, one full forward with every position's logits.
      for (const [i, { context, continuation }] of pairs.entries()) {
        const { logits } = await Stream.start(m, 1).step(
          [[...context, ...continuation].slice(0, -1)],
          "left",
        );
        let expected = 0;
        continuation.forEach((token, j) => {
          const row = logits.at(0, context.length - 1 + j);
          const max = Math.max(...row);
          const sum = row.reduce((a, v) => a + Math.exp(v - max), 0);
          expected += row[token] - max - Math.log(sum);
        });
        for (const [name, got] of [["shared", shared[i]], ["plain", plain[i]]] as const) {
          assert.ok(
            Math.abs(got.logprob - expected) <= 1e-4,
            `${family} ${name} pair ${i}: ${got.logprob} vs ${expected}`,
          );
        }
      }
    } finally {
      await m.release();
    }
  }
});
