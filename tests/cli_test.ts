/**
 * The commands as a user runs them: child processes, exit codes, the database afterwards.
 */

import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Store } from "../results/store.ts";
import { runScript } from "./_script.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const llama = join(root, "tests/fixtures/llama");

function run(script: "eval" | "report", args: string[], env: Record<string, string> = {}) {
  return runScript(script, args, env);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "kvbench-test-"));
}

async function readDb<T>(path: string, body: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.open(path, { readOnly: true });
  try {
    return await body(store);
  } finally {
    store.close();
  }
}

const evalArgs = (db: string) => [
  "--model",
  llama,
  "--tasks",
  "mqar",
  "--kv-pairs",
  "4,8",
  "--lengths",
  "64",
  "--limit",
  "80",
  "--db",
  db,
  "--no-report",
];

Deno.test("eval resumes a SIGKILLed run and ends with the same numbers as an uninterrupted one", async () => {
  const dir = tempDir();
  const clean = await run("eval", evalArgs(join(dir, "clean.duckdb")));
  assert.equal(clean.code, 0, clean.stderr);

  const db = join(dir, "crash.duckdb");
  const killed = await run("eval", evalArgs(db), { KVBENCH_KILL_AFTER_BATCHES: "2" });
  assert.equal(killed.signal, "SIGKILL");
  const kept = await readDb(db, (s) => s.query("SELECT count(*) AS n FROM samples"));
  assert.equal(kept[0].n, 128, "both committed batches survive the kill");

  const resumed = await run("eval", evalArgs(db));
  assert.equal(resumed.code, 0, resumed.stderr);
  const [runs, reused, results, cleanResults] = await Promise.all([
    readDb(db, (s) => s.query("SELECT id, status FROM runs ORDER BY id")),
    readDb(db, (s) => s.query("SELECT count(*) AS n FROM samples WHERE run_id = 2 AND reused_from = 1")),
    readDb(
      db,
      (s) => s.query("SELECT metric, value, num_kv_pairs FROM results WHERE run_id = 2 ORDER BY ALL"),
    ),
    readDb(
      join(dir, "clean.duckdb"),
      (s) => s.query("SELECT metric, value, num_kv_pairs FROM results WHERE run_id = 1 ORDER BY ALL"),
    ),
  ]);
  assert.deepEqual(runs, [{ id: 1, status: "interrupted" }, { id: 2, status: "done" }]);
  assert.equal(reused[0].n, 128);
  assert.deepEqual(results, cleanResults);
});

Deno.test("eval writes lm-eval-shaped results and samples with --output-path --log-samples", async () => {
  const dir = tempDir();
  const out = join(dir, "out.json");
  const res = await run("eval", [...evalArgs(join(dir, "db.duckdb")), "--output-path", out, "--log-samples"]);
  assert.equal(res.code, 0, res.stderr);
  const json = JSON.parse(Deno.readTextFileSync(out));
  for (const key of ["results", "configs", "versions", "n-shot", "config"]) assert.ok(key in json, key);
  assert.equal(typeof json.results.mqar["acc,none"], "number");
  assert.equal(typeof json.results.mqar["acc_stderr,none"], "number");
  assert.equal(json["n-samples"].mqar.effective, 160);
  const sampleFile = [...Deno.readDirSync(dir)].find((f) => f.name.startsWith("samples_mqar_"));
  assert.ok(sampleFile, "a samples file named after the task");
  const lines = Deno.readTextFileSync(join(dir, sampleFile.name)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.equal(lines.length, 160);
  for (const key of ["doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "acc"]) {
    assert.ok(key in lines[0], key);
  }
});

Deno.test("report prints the leaderboard with measured KV bytes/token in every format", async () => {
  const dir = tempDir();
  const db = join(dir, "db.duckdb");
  assert.equal((await run("eval", evalArgs(db))).code, 0);
  const table = await run("report", ["--db", db]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /tiny-llama\s+llama\s+\d\.\d{4}/);
  assert.match(table.stdout, /kv=4 len=64/);
  const json = JSON.parse((await run("report", ["--db", db, "--format", "json"])).stdout);
  assert.equal(json.rows[0].kvBytesPerToken, 512);
  assert.equal(json.rows[0].compression, 1);
  const csv = (await run("report", ["--db", db, "--format", "csv"])).stdout;
  assert.match(csv.split("\n")[0], /^model,family,run_id,task,metric,num_kv_pairs,context_len,depth,value,/);
  const md = (await run("report", ["--db", db, "--format", "markdown"])).stdout;
  assert.match(md, /^\| model \| family \|/);
});

/** Runs eval and checks: exit 2, one line on stderr matching `pattern`, the database still readable. */
async function expectUserError(args: string[], pattern: RegExp) {
  const dir = tempDir();
  const db = join(dir, "db.duckdb");
  // A finished run first, so we can check that a failure leaves it intact.
  assert.equal((await run("eval", evalArgs(db))).code, 0);
  const res = await run("eval", [...args, "--db", db, "--no-report"]);
  assert.equal(res.code, 2, `exit code for ${args.join(" ")}: ${res.stderr}`);
  const lines = res.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${res.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(res.stderr, /\bat .*\.ts:\d+/, "no stack trace");
  const done = await readDb(
    db,
    (s) =>
      s.query("SELECT count(*) AS n FROM samples s JOIN runs r ON r.id = s.run_id WHERE r.status = 'done'"),
  );
  assert.equal(done[0].n, 160, "finished samples are kept");
}

function modelDirWith(files: Record<string, string | Uint8Array>, tokenizer = true): string {
  const dir = tempDir();
  if (tokenizer) {
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(llama, f), join(dir, f));
  }
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

Deno.test("bad input: a missing model directory", async () => {
  await expectUserError(
    ["--model", "/no/such/model"],
    /Cannot load model "\/no\/such\/model" as it is not a directory/,
  );
});

Deno.test("bad input: a corrupt ONNX file", async () => {
  const dir = modelDirWith({ "model.onnx": new Uint8Array([1, 2, 3, 4, 5]) });
  await expectUserError(["--model", dir], /Cannot load .*model\.onnx as onnxruntime rejected it/);
});

Deno.test("bad input: a graph without logits", async () => {
  const dir = modelDirWith({
    "model.onnx": Deno.readFileSync(join(root, "tests/data/broken/no_logits/model.onnx")),
  });
  await expectUserError(["--model", dir], /has no "logits" output/);
});

Deno.test("bad input: a state input with no matching output", async () => {
  const dir = modelDirWith({
    "model.onnx": Deno.readFileSync(join(root, "tests/data/broken/unpaired_state/model.onnx")),
  });
  await expectUserError(
    ["--model", dir],
    /Cannot pair state input "past_key_values\.0\.key" .* no output "present\.0\.key"/,
  );
});

Deno.test("bad input: a missing tokenizer", async () => {
  const dir = modelDirWith({ "model.onnx": Deno.readFileSync(join(llama, "model.onnx")) }, false);
  await expectUserError(["--model", dir], /tokenizer\.json does not exist/);
});

Deno.test("bad input: an unknown task", async () => {
  await expectUserError(["--model", llama, "--tasks", "mqar,hellaswagg"], /unknown task "hellaswagg"/);
});

Deno.test("bad input: a bad flag value", async () => {
  await expectUserError(["--model", llama, "--batch-size", "zero"], /--batch-size must be an integer/);
});

Deno.test("bad input: --tf32 takes on or off", async () => {
  await expectUserError(
    ["--model", llama, "--tf32", "maybe"],
    /--tf32 must be one of on, off \(got "maybe"\)/,
  );
});

Deno.test("bad input: a retired device is refused in one line", async () => {
  await expectUserError(
    ["--model", llama, "--device", "webgpu"],
    /--device must be one of cpu, cuda \(got "webgpu"\)/,
  );
});

Deno.test("report on a missing database says how to make one", async () => {
  const res = await run("report", ["--db", join(tempDir(), "none.duckdb")]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /run `deno task eval` first/);
});

Deno.test("bad input: --device cuda without a usable CUDA provider says how to get one", async () => {
  // On a machine without the provider libraries the message names them and `deno task setup:cuda`;
  // with them but without CUDA it names the CUDA libraries. Either way: one line, exit 2.
  await expectUserError(["--model", llama, "--device", "cuda"], /Cannot (use|start the) (--device )?cuda/);
});

Deno.test("eval runs every family fixture, and the report shows each one's measured cache", async () => {
  const families = ["llama", "transmla", "xecomla", "zebra", "dma"];
  const db = join(tempDir(), "families.duckdb");
  const models = families.map((f) => join(root, "tests/fixtures", f)).join(",");
  const res = await run("eval", [
    "--model",
    models,
    "--tasks",
    "mqar",
    "--kv-pairs",
    "4",
    "--lengths",
    "64",
    "--limit",
    "10",
    "--db",
    db,
    "--no-report",
  ]);
  assert.equal(res.code, 0, res.stderr);
  const board = JSON.parse((await run("report", ["--db", db, "--format", "json"])).stdout);
  const kv = Object.fromEntries(
    board.rows.map((r: { family: string; kvBytesPerToken: number }) => [r.family, r.kvBytesPerToken]),
  );
  for (const family of families) {
    const sidecar = JSON.parse(Deno.readTextFileSync(join(root, "tests/fixtures", family, "kvbench.json")));
    assert.equal(kv[family], sidecar.cache.bytes_per_token, family);
  }
});
