import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LanguageModel } from "../../../evals/lm.ts";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { MAX_GRAPHS } from "../../../evals/model/decode_graphs.ts";
import { loadBundle } from "../../../evals/model/bundle.ts";
import { Stream } from "../../../evals/model/stream.ts";
import { Session } from "../../../evals/model/ort/session.ts";
import { TextTokenizer } from "../../../evals/model/tokenizer.ts";
import type { Request } from "../../../core/requests.ts";

// llama-static and llama-fused are the same weights built two ways: GroupQueryAttention writing a
// preallocated cache in place, and the Attention op growing a past.
const fixtures = fileURLToPath(new URL("../../fixtures", import.meta.url));

function maxDiff(a: Float32Array, b: Float32Array): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

Deno.test("a static cache is found from the graph and sized by its rows", async () => {
  const model = await OnnxModel.load(join(fixtures, "llama-static"));
  try {
    assert.equal(model.staticCache, true);
    const { logits, stream } = await Stream.start(model, 2).prefill(
      [[5, 6, 7, 8, 9], [10, 11]],
      0,
      undefined,
      3,
    );
    logits.dispose();
    assert.deepEqual(stream.realCounts, [5, 2]);
    assert.equal(stream.length, 5);
    assert.equal(stream.pastLen, 8, "prompt width and the reserve, nothing more");
    const sidecar = JSON.parse(Deno.readTextFileSync(join(fixtures, "llama-static", "kvbench.json")));
    assert.equal(stream.measureCache().bytesPerToken, sidecar.cache.bytes_per_token);
    assert.throws(() => stream.withStates(new Map()), /static cache/);
    stream.dispose();
  } finally {
    await model.release();
  }
});

Deno.test("a static cache grows when a step would not fit, keeping what it holds", async () => {
  const dynamic = await OnnxModel.load(join(fixtures, "llama-fused"));
  const fixed = await OnnxModel.load(join(fixtures, "llama-static"));
  try {
    const prompts = [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14]];
    const runs: { seen: Float32Array[]; capacities: number[] }[] = [];
    for (const model of [dynamic, fixed]) {
      let { logits, stream } = await Stream.start(model, 2).prefill(prompts);
      const capacities = [stream.pastLen];
      const seen: Float32Array[] = [];
      for (let step = 0; step < 12; step++) {
        const next = await logits.lastArgmax();
        seen.push(logits.last(0), logits.last(1));
        logits.dispose();
        const previous = stream;
        ({ logits, stream } = await stream.step(next.map((t) => [t]), "left"));
        if (model.staticCache) {
          assert.throws(
            () => previous.select([0]),
            /after stepping it/,
            "the old stream gave its buffers away",
          );
        }
        previous.dispose();
        capacities.push(stream.pastLen);
      }
      logits.dispose();
      stream.dispose();
      runs.push({ seen, capacities });
    }
    assert.deepEqual(runs[1].capacities.slice(0, 2), [7, 7 + 256], "grown once by the minimum growth");
    runs[0].seen.forEach((a, i) => assert.ok(maxDiff(a, runs[1].seen[i]) < 1e-5, `logits ${i}`));
  } finally {
    await dynamic.release();
    await fixed.release();
  }
});

// With prefix reuse the continuations after a shared context run position by position (fewer
// tokens than rows) and a chunked prefill row by row: both ways GroupQueryAttention's rule is met.
Deno.test("a static cache gives what the growing one gives: padded batches, chunks after a past, reuse", async () => {
  const text: Request[] = [
    {
      kind: "loglikelihood",
      context: "Question: Which layer keeps the latent vector?\nAnswer:",
      continuation: " one",
    },
    {
      kind: "loglikelihood",
      context: "Question: Which layer keeps the latent vector?\nAnswer:",
      continuation: " the KV",
    },
    { kind: "loglikelihood", context: "A", continuation: " nobody had read that far yet" },
    { kind: "loglikelihood_rolling", text: "The harness reads each model from a directory and runs it." },
    { kind: "generate_until", context: "When the sky is clear", until: ["\n\n"], maxGenToks: 6 },
    { kind: "generate_until", context: "A small model of the", until: ["\n\n"], maxGenToks: 9 },
    { kind: "token_argmax", tokens: [5, 9, 30, 31, 40, 41], positions: [1, 4] },
  ];
  const results = [];
  for (const fixture of ["llama-fused", "llama-static"]) {
    const dir = join(fixtures, fixture);
    const model = await OnnxModel.load(dir);
    const tok = TextTokenizer.load(dir);
    try {
      const options = {
        batchSize: 4,
        addBos: true,
        maxLength: 64,
        sameLengthBatches: false,
        prefillChunk: 3,
      };
      const lm = new LanguageModel(model, tok, options);
      assert.equal(lm.options.prefixReuse, true, "shared contexts run once by default");
      results.push([
        await new LanguageModel(model, tok, { ...options, prefixReuse: true }).run(text),
        await lm.run(text),
        await new LanguageModel(model, tok, { ...options, prefixReuse: false }).run(text),
      ]);
    } finally {
      await model.release();
    }
  }
  const [fused, fixed] = results;
  for (const [k, reuse] of [[0, "with"], [1, "default"], [2, "without"]] as const) {
    fused[k].forEach((r, i) => {
      const s = fixed[k][i];
      if (r.kind === "loglikelihood" && s.kind === "loglikelihood") {
        assert.ok(
          Math.abs(r.logprob - s.logprob) < 1e-4,
          `${reuse} reuse, request ${i}: ${r.logprob} vs ${s.logprob}`,
        );
      } else if (r.kind === "loglikelihood_rolling" && s.kind === "loglikelihood_rolling") {
        assert.ok(Math.abs(r.logprob - s.logprob) < 1e-4, `${reuse} reuse, request ${i}`);
      } else {
        assert.deepEqual(s, r, `${reuse} reuse, request ${i}`);
      }
    });
  }
});

Deno.test("continuations after a context at the model's last positions feed no padding past them", async () => {
  // A context that ends one token before the last position, batched with one whose continuations
  // are longer: padded to those, its rows would run past the RoPE tables (GroupQueryAttention on
  // CUDA refuses that; on CPU it reads beyond them). loadBundle passes the sidecar's 256 positions.
  const { model } = await loadBundle(join(fixtures, "llama-static"), "cpu");
  try {
    const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => 3 + (i * 37 + seed) % 500);
    const near = ids(255, 1);
    const far = ids(100, 2);
    // Two continuation rows (one call per row) and eight (one call per position across rows).
    const fewRows = [{ context: near, continuation: [7, 8] }, { context: far, continuation: ids(8, 3) }];
    const manyRows = [0, 1, 2, 3].flatMap((c) => [
      { context: near, continuation: [10 + c, 20 + c] },
      { context: far, continuation: ids(4, 4 + c) },
    ]);
    for (const pairs of [fewRows, manyRows]) {
      const options = { batchSize: 2, maxLength: 256, sameLengthBatches: false };
      const reused = await new LanguageModel(model, null, { ...options, prefixReuse: true })
        .loglikelihoodTokens(pairs);
      const whole = await new LanguageModel(model, null, { ...options, prefixReuse: false })
        .loglikelihoodTokens(pairs);
      whole.forEach((w, i) => {
        assert.ok(
          Math.abs(w.logprob - reused[i].logprob) < 1e-4,
          `pair ${i}: ${w.logprob} vs ${reused[i].logprob}`,
        );
        assert.equal(reused[i].isGreedy, w.isGreedy, `pair ${i}`);
      });
    }
  } finally {
    await model.release();
  }
});

// Continuations of many rows after their contexts: position by position through GroupQueryAttention
// (OnnxModel.load alone), or in one call of the export's scoring graph (loadBundle reads the sidecar).
for (
  const [fixture, tolerance] of [
    ["llama-static", 1e-4],
    ["llama-static-fp16", 5e-2],
    ["xecomla-static", 1e-4],
    ["xecomla-static-fp16", 5e-2],
  ] as const
) {
  Deno.test(`${fixture}: the scoring graph scores continuations as the static graph does`, async () => {
    const dir = join(fixtures, fixture);
    const plain = await OnnxModel.load(dir);
    const { model: scoring } = await loadBundle(dir, "cpu");
    try {
      const ids = (n: number, seed: number) =>
        Array.from({ length: n }, (_, i) => 3 + (i * 31 + seed * 7) % 500);
      // Contexts of different lengths (their buffers' slots past a row's length are masked), with
      // continuations of 1 to 6 tokens, one-token ones among them (scored from the context call).
      const pairs = [0, 1, 2, 3, 4].flatMap((c) =>
        [1, 2, 4, 6].map((n, k) => ({ context: ids(20 + 17 * c, c), continuation: ids(n, 10 * c + k) }))
      );
      // Rows of different lengths in a call, as on CUDA.
      const options = { batchSize: 3, maxLength: 256, prefixReuse: true, sameLengthBatches: false };
      const want = await new LanguageModel(plain, null, options).loglikelihoodTokens(pairs);
      assert.equal(scoring.scoreGraphOpen, false, "opened on first use only");
      const got = await new LanguageModel(scoring, null, options).loglikelihoodTokens(pairs);
      assert.equal(scoring.scoreGraphOpen, true);
      assert.equal(plain.scoreGraphOpen, false);
      want.forEach((w, i) => {
        assert.ok(
          Math.abs(w.logprob - got[i].logprob) < tolerance,
          `pair ${i}: ${w.logprob} vs ${got[i].logprob}`,
        );
        assert.equal(got[i].isGreedy, w.isGreedy, `pair ${i}`);
      });
      // Trimming the arenas runs the scoring graph too (once open), and scoring is unchanged after it.
      const run = Session.prototype.run;
      let shrinking = 0;
      Session.prototype.run = function (inputs, requests, settings) {
        if (settings?.shrinkArena) shrinking++;
        return run.call(this, inputs, requests, settings);
      };
      try {
        await scoring.trimArena();
      } finally {
        Session.prototype.run = run;
      }
      assert.equal(shrinking, 2, "a shrinking run of the static graph and one of the scoring graph");
      const again = await new LanguageModel(scoring, null, options).loglikelihoodTokens(pairs);
      assert.deepEqual(again, got);
    } finally {
      await plain.release();
      await scoring.release();
    }
  });
}

Deno.test("a scoring graph that will not open leaves continuations to the static graph, with one line", async () => {
  const dir = join(fixtures, "llama-static");
  // Checked before any work by inspectBundle; here the file goes bad after that check.
  const broken = join(Deno.makeTempDirSync(), "score.onnx");
  Deno.writeFileSync(broken, new Uint8Array([1, 2, 3, 4]));
  const plain = await OnnxModel.load(dir);
  const scoring = await OnnxModel.load(dir, { scoreGraph: broken });
  const lines: string[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    const pairs = [0, 1, 2].map((c) => ({ context: [5 + c, 6, 7, 8], continuation: [9, 10 + c, 11] }));
    const options = { batchSize: 1, maxLength: 256, prefixReuse: true, sameLengthBatches: false };
    const want = await new LanguageModel(plain, null, options).loglikelihoodTokens(pairs);
    // One context whose three continuations run in one call: the scoring graph's, were it to open.
    const shared = pairs.map((p) => ({ ...p, context: pairs[0].context }));
    const got = await new LanguageModel(scoring, null, options).loglikelihoodTokens(shared);
    const again = await new LanguageModel(plain, null, options).loglikelihoodTokens(shared);
    assert.deepEqual(got, again, "position by position, as without a scoring graph");
    assert.equal(want.length, 3);
    assert.equal(scoring.scoreGraphOpen, false);
    assert.equal(lines.length, 1, "said once, not per call");
    assert.match(lines[0], /scoring graph would not open, so continuations are scored a position at a time/);
  } finally {
    console.error = error;
    await plain.release();
    await scoring.release();
  }
});

// The CUDA graph path's bookkeeping (fixed tensors written in place, a graph per set of buffers,
// total_sequence_length at the capacity) runs on CPU too, uncaptured: it must change nothing.
for (const fixture of ["llama-static", "xecomla-static"]) {
  Deno.test(`${fixture}: decode steps on fixed buffers give exactly the plain steps`, async () => {
    const plain = await OnnxModel.load(join(fixtures, fixture));
    // The bundle passes the sidecar's max_length, which bounds a captured step.
    const { model: fixed } = await loadBundle(join(fixtures, fixture), "cpu", { cudaGraphs: true });
    try {
      assert.equal(plain.cudaGraphs, false, "no graphs on CPU unless asked");
      assert.equal(fixed.cudaGraphs, true);
      const runs: { seen: Float32Array[]; graphs: number[] }[] = [];
      for (const model of [plain, fixed]) {
        let { logits, stream } = await Stream.start(model, 2).prefill(
          [[5, 6, 7, 8, 9], [10, 11]],
          0,
          undefined,
          4,
        );
        const seen: Float32Array[] = [];
        const graphs: number[] = [];
        for (let step = 0; step < 6; step++) {
          const next = await logits.lastArgmax();
          seen.push(logits.last(0), logits.last(1));
          logits.dispose();
          const previous = stream;
          // Past the reserve the buffers grow (new addresses): a second graph.
          ({ logits, stream } = await stream.step(next.map((t) => [t]), "left"));
          previous.dispose();
          graphs.push(model.decodeGraphCount);
        }
        // One row of them, copied into new buffers: a graph of batch size 1.
        const one = stream.select([1]);
        const last = await logits.lastArgmax();
        seen.push(logits.last(1));
        logits.dispose();
        const out = await one.step([[last[1]]], "left");
        seen.push(out.logits.last(0));
        graphs.push(model.decodeGraphCount);
        out.logits.dispose();
        out.stream.dispose();
        stream.dispose();
        runs.push({ seen, graphs });
      }
      runs[0].seen.forEach((a, i) => assert.deepEqual(runs[1].seen[i], a, `logits ${i}`));
      assert.deepEqual(runs[0].graphs, [0, 0, 0, 0, 0, 0, 0]);
      assert.deepEqual(runs[1].graphs, [1, 1, 1, 1, 2, 2, 3], "one graph per batch size and set of buffers");
    } finally {
      await plain.release();
      await fixed.release();
    }
  });
}

Deno.test("past the most decode graphs a model keeps, steps run plainly and give the same logits", async () => {
  const dir = join(fixtures, "llama-static");
  const { model: fixed } = await loadBundle(dir, "cpu", { cudaGraphs: true });
  const plain = await OnnxModel.load(dir);
  try {
    const runs: Float32Array[][] = [];
    for (const model of [plain, fixed]) {
      const { logits, stream } = await Stream.start(model, 1).prefill([[5, 6, 7, 8]], 0, undefined, 2);
      logits.dispose();
      // Every copy is a set of buffers at its own address, all alive at once: one graph each.
      const copies = Array.from({ length: MAX_GRAPHS + 3 }, () => stream.select([0]));
      const seen: Float32Array[] = [];
      for (const [i, copy] of copies.entries()) {
        const out = await copy.step([[10 + (i % 7)]], "left");
        seen.push(out.logits.last(0));
        out.logits.dispose();
        out.stream.dispose();
      }
      stream.dispose();
      runs.push(seen);
    }
    assert.equal(fixed.decodeGraphCount, MAX_GRAPHS);
    runs[0].forEach((a, i) => assert.deepEqual(runs[1][i], a, `step ${i}`));
  } finally {
    await fixed.release();
    await plain.release();
  }
});
