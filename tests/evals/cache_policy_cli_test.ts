/**
 * `deno task eval --cache-policy` as a user runs it: the policy's runs are a model of their own,
 * their simulated bytes are stored and reported beside the real ones, and mistakes are refused
 * before any model runs.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { evalMqar, ROOT, runScript } from "../_script.ts";

const LLAMA = join(ROOT, "tests/fixtures/llama");
const HYBRID = join(ROOT, "tests/fixtures/zebra");

const CELLS = { kvPairs: "4", lengths: "64", limit: "6" };
const withPolicy = (policy?: string) => policy ? ["--cache-policy", policy] : [];

Deno.test("eval --cache-policy xkv stores a run of its own with simulated bytes beside the real ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = join(dir, "xkv.duckdb");
    assert.equal((await evalMqar(db, [LLAMA], CELLS)).code, 0);
    const policy = "xkv:group=2,rank_k=4,rank_v=4";
    const run = await evalMqar(db, [LLAMA], CELLS, withPolicy(policy));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /✓ tiny-llama\+xkv:group=2,rank_k=4,rank_v=4 \(run 2\)/);
    const report = await runScript("report", ["--db", db, "--format", "json"]);
    assert.equal(report.code, 0, report.stderr);
    const rows = JSON.parse(report.stdout).rows as {
      model: string;
      kvBytesPerToken: number;
      simulatedKvBytesPerToken: number | null;
    }[];
    const plain = rows.find((r) => r.model === "tiny-llama")!;
    const xkv = rows.find((r) => r.model === `tiny-llama+${policy}`)!;
    assert.equal(plain.simulatedKvBytesPerToken, null);
    // The cache held the dense reconstruction; only the factors' bytes are smaller, and said to be simulated.
    assert.equal(xkv.kvBytesPerToken, plain.kvBytesPerToken);
    assert.ok(xkv.simulatedKvBytesPerToken! < xkv.kvBytesPerToken, JSON.stringify(xkv));
    const table = await runScript("report", ["--db", db]);
    assert.match(table.stdout, /simulated KV B\/token \(policy\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval refuses a bad cache policy, or one a model can't take, before any model runs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = join(dir, "bad.duckdb");
    const syntax = await evalMqar(db, [LLAMA], CELLS, withPolicy("xkv:group=2,rank_k=4"));
    assert.equal(syntax.code, 2);
    assert.match(syntax.stderr, /give rank_v=/);
    // The llama fixture would run first; the Mamba hybrid after it is refused before it does.
    const hybrid = await evalMqar(db, [LLAMA, HYBRID], CELLS, withPolicy("xkv:group=2,rank_k=4,rank_v=4"));
    assert.equal(hybrid.code, 2);
    assert.match(hybrid.stderr, /layer 1 is of kind mamba2/);
    assert.doesNotMatch(hybrid.stderr, /✓/);
    // A graph that takes several tokens only after an empty past can't continue a rewritten state.
    const oneToken = join(ROOT, "tests/fixtures/llama-one-token");
    const restricted = await evalMqar(db, [oneToken], CELLS, withPolicy("xkv:group=2,rank_k=4,rank_v=4"));
    assert.equal(restricted.code, 2);
    assert.match(restricted.stderr, /several new tokens only with an empty past/);
    // A static cache is written in place: nothing for a policy to swap.
    const fixed = join(ROOT, "tests/fixtures/llama-static");
    const refused = await evalMqar(db, [LLAMA, fixed], CELLS, withPolicy("xkv:group=2,rank_k=4,rank_v=4"));
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /its cache is static/);
    assert.doesNotMatch(refused.stderr, /✓/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with no --model, a cache policy runs on the bundled models it can rewrite and names the rest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const policy = "xkv:group=2,rank_k=8,rank_v=8";
    const run = await runScript("eval", [
      ...["--tasks", "mqar", "--kv-pairs", "4", "--lengths", "64", "--limit", "2"],
      ...["--db", join(dir, "default.duckdb"), "--no-report", "--cache-policy", policy],
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /leaving out .*zebra: its layer 1 is of kind mamba2/);
    assert.match(run.stderr, new RegExp(`✓ mqar-llama\\+${policy}`));
    assert.doesNotMatch(run.stderr, /✓ mqar-zebra/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
