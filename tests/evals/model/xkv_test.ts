/**
 * xKV against numpy (tests/data/xkv, written by scripts/make_xkv_reference.py from the llama and
 * transmla fixtures).
 *
 * @module
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UserError } from "../../../core/errors.ts";
import {
  checkCachePolicy,
  openCachePolicy,
  simulatedBytesPerToken,
} from "../../../evals/model/cache_policy.ts";
import { symmetricEigen, truncateRank } from "../../../evals/model/low_rank.ts";
import { OnnxModel } from "../../../evals/model/onnx_model.ts";
import { LanguageModel } from "../../../evals/lm.ts";
import { readFloat32 } from "../../../evals/model/ort/tensor.ts";
import { Stream } from "../../../evals/model/stream.ts";

const DATA = new URL("../../data/xkv/", import.meta.url);
const FIXTURES = new URL("../../fixtures/", import.meta.url);
interface Case {
  prompts: number[][];
  spec: string;
  states: Record<string, number[]>;
}

function readCase(fixture: string): Case {
  return JSON.parse(readFileSync(new URL(`${fixture}/case.json`, DATA), "utf8"));
}

const CASE = readCase("llama");

function reference(fixture: string, name: string, when: "before" | "after"): Float32Array {
  return new Float32Array(readFileSync(new URL(`${fixture}/${name}.${when}.f32`, DATA)).buffer);
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

async function prefilled(model: OnnxModel): Promise<Stream> {
  const { logits, stream } = await Stream.start(model, CASE.prompts.length).prefill(CASE.prompts);
  logits.dispose();
  return stream;
}

function target(model: OnnxModel, fixture: string) {
  const read = (file: string) => JSON.parse(readFileSync(new URL(`${fixture}/${file}`, FIXTURES), "utf8"));
  return { model, config: read("config.json"), sidecar: read("kvbench.json") };
}

Deno.test("xKV rewrites a left-padded GQA cache as numpy's truncated SVD does, RoPE undone and redone", async () => {
  const model = await OnnxModel.load(fileURLToPath(new URL("llama", FIXTURES)));
  try {
    const stream = await prefilled(model);
    for (const name of Object.keys(CASE.states)) {
      assert.ok(
        maxDiff(readFloat32(stream.states.get(name)!), reference("llama", name, "before")) < 1e-5,
        name,
      );
    }
    const policy = openCachePolicy(CASE.spec, target(model, "llama"));
    const rewritten = policy.apply(stream);
    for (const name of Object.keys(CASE.states)) {
      const got = readFloat32(rewritten.states.get(name)!);
      const want = reference("llama", name, "after");
      assert.ok(maxDiff(got, want) < 1e-4, `${name}: ${maxDiff(got, want)}`);
      assert.ok(maxDiff(got, reference("llama", name, "before")) > 0.1, `${name} was compressed`);
    }
    // Two kinds, one group of both layers, 2 heads × 16 dims each: 64 columns; rows of 12 and 9 tokens.
    const stored = (12 + 9) * 64 * 4 * 2;
    const simulated =
      ((12 * 5 + 5 + 5 * 64) + (9 * 5 + 5 + 5 * 64) + (12 * 7 + 7 + 7 * 64) + (9 * 7 + 7 + 7 * 64)) *
      4;
    assert.deepEqual(policy.bytes, { stored, simulated, tokens: 12 + 9 });
    // Per token: the dense 2 layers × 2 kinds × 2 heads × 16 dims × 4 bytes, less what the factors save.
    assert.equal(simulatedBytesPerToken(policy.bytes, 512), 512 - (stored - simulated) / 21);
    // The rewritten cache still decodes.
    const next = await rewritten.step([[3], [4]], "left");
    assert.equal(next.stream.pastLen, rewritten.pastLen + 1);
    next.logits.dispose();
    next.stream.dispose();
    rewritten.dispose();
  } finally {
    await model.release();
  }
});

Deno.test("xKV on an MLA cache compresses the latents as numpy does and leaves the RoPE parts alone", async () => {
  const model = await OnnxModel.load(fileURLToPath(new URL("transmla", FIXTURES)));
  const mla = readCase("transmla");
  try {
    const stream = await prefilled(model);
    const before = new Map([...stream.states].map(([n, t]) => [n, readFloat32(t)]));
    const rewritten = openCachePolicy(mla.spec, target(model, "transmla")).apply(stream);
    for (const name of Object.keys(mla.states)) {
      const got = readFloat32(rewritten.states.get(name)!);
      assert.ok(maxDiff(got, reference("transmla", name, "after")) < 1e-4, name);
      if (name.endsWith(".value")) assert.deepEqual(got, before.get(name), `${name} (RoPE part) untouched`);
      else assert.ok(maxDiff(got, before.get(name)!) > 0.01, `${name} (latent) was compressed`);
    }
    rewritten.dispose();
  } finally {
    await model.release();
  }
});

Deno.test("xKV at a rank no row needs leaves the cache bit for bit", async () => {
  const model = await OnnxModel.load(fileURLToPath(new URL("llama", FIXTURES)));
  try {
    const stream = await prefilled(model);
    const before = new Map([...stream.states].map(([n, t]) => [n, readFloat32(t)]));
    const rewritten = openCachePolicy("xkv:group=1,rank_k=64,rank_v=64", target(model, "llama")).apply(
      stream,
    );
    for (const [name, values] of before) {
      assert.deepEqual(readFloat32(rewritten.states.get(name)!), values, name);
    }
    rewritten.dispose();
  } finally {
    await model.release();
  }
});

Deno.test("cache policy mistakes are one line each, before any work", async () => {
  for (
    const spec of [
      "lru",
      "xkv",
      "xkv:group=2,rank_k=4",
      "xkv:group=0,rank_k=4,rank_v=4",
      "xkv:group=2,rank=4,rank_v=4",
    ]
  ) {
    assert.throws(() => checkCachePolicy(spec), UserError, spec);
  }
  checkCachePolicy("xkv:group=4,rank_k=512,rank_v=768,start=2,end=30");
  const zebra = await OnnxModel.load(fileURLToPath(new URL("zebra", FIXTURES)));
  try {
    assert.throws(
      () => openCachePolicy("xkv:group=2,rank_k=4,rank_v=4", target(zebra, "zebra")),
      /layer 1 is of kind mamba2; xKV rewrites gqa, dma and mla layers only/,
    );
  } finally {
    await zebra.release();
  }
  const xecomla = await OnnxModel.load(fileURLToPath(new URL("xecomla", FIXTURES)));
  try {
    // Its layers are mla, gqa, mla: a group must hold one kind.
    assert.throws(
      () => openCachePolicy("xkv:group=2,rank_k=4,rank_v=4", target(xecomla, "xecomla")),
      /layers 0\.\.2 mix MLA and GQA caches/,
    );
    openCachePolicy("xkv:group=1,rank_k=4,rank_v=4", target(xecomla, "xecomla"));
    // Without a sidecar, MLA's latent and RoPE parts give themselves away by their shapes.
    assert.throws(
      () => openCachePolicy("xkv:group=1,rank_k=4,rank_v=4", { ...target(xecomla, "xecomla"), sidecar: {} }),
      /keys and values differ in shape and no kvbench.json says what they are/,
    );
  } finally {
    await xecomla.release();
  }
  const llama = await OnnxModel.load(fileURLToPath(new URL("llama", FIXTURES)));
  try {
    assert.throws(
      () => openCachePolicy("xkv:group=2,rank_k=4,rank_v=4,start=1,end=5", target(llama, "llama")),
      /not within its 2 layers/,
    );
  } finally {
    await llama.release();
  }
});

Deno.test("truncated SVD: exact at full rank, the best rank-1 fit of a rank-1 matrix plus noise", () => {
  const x = { rows: 3, cols: 2, data: Float64Array.of(1, 2, 2, 4, 3, 6.5) };
  assert.deepEqual(truncateRank(x, 2).data, x.data);
  const one = truncateRank(x, 1).data;
  // Each row of a rank-1 fit is a multiple of one direction.
  assert.ok(Math.abs(one[0] * one[3] - one[1] * one[2]) < 1e-12);
  assert.ok(Math.abs(one[2] * one[5] - one[3] * one[4]) < 1e-12);
  // The wide case (rows < cols) agrees with the tall one on the transpose.
  const t = { rows: 2, cols: 3, data: Float64Array.of(1, 2, 3, 2, 4, 6.5) };
  const wide = truncateRank(t, 1).data;
  [0, 1, 2].forEach((i) =>
    [0, 1].forEach((j) => assert.ok(Math.abs(wide[j * 3 + i] - one[i * 2 + j]) < 1e-12))
  );
});

Deno.test("token-argmax requests split at their first read keep their predictions under a policy that changes nothing", async () => {
  const model = await OnnxModel.load(fileURLToPath(new URL("llama", FIXTURES)));
  try {
    const requests = [
      { kind: "token_argmax" as const, tokens: [5, 9, 14, 3, 22, 7, 8, 40, 41, 42], positions: [6, 8] },
      { kind: "token_argmax" as const, tokens: [30, 31, 32, 33, 34, 35], positions: [3, 5] },
    ];
    const plain = await new LanguageModel(model, null).tokenArgmax(requests);
    const policy = openCachePolicy("xkv:group=2,rank_k=64,rank_v=64", target(model, "llama"));
    const split = await new LanguageModel(model, null, { cachePolicy: policy }).tokenArgmax(requests);
    assert.deepEqual(split, plain);
    assert.equal(policy.bytes.tokens, 6 + 3);
  } finally {
    await model.release();
  }
});

Deno.test("symmetric eigendecomposition: A v = λ v, orthonormal vectors, values descending", () => {
  const n = 40;
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const b = Float64Array.from({ length: n * n }, next);
  const a = new Float64Array(n * n); // BᵀB: symmetric, with a spread of eigenvalues
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += b[k * n + i] * b[k * n + j];
  }
  const { values, vectors } = symmetricEigen(a, n);
  for (let c = 0; c < n; c++) {
    if (c > 0) assert.ok(values[c] <= values[c - 1]);
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let k = 0; k < n; k++) av += a[i * n + k] * vectors[k * n + c];
      assert.ok(Math.abs(av - values[c] * vectors[i * n + c]) < 1e-10, `column ${c}, row ${i}`);
    }
    for (let c2 = 0; c2 <= c; c2++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += vectors[k * n + c] * vectors[k * n + c2];
      assert.ok(Math.abs(dot - (c === c2 ? 1 : 0)) < 1e-10);
    }
  }
});
