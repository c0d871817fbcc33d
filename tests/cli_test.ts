/**
 * The commands as a user runs them: child processes, exit codes, the database afterwards.
 */

import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Store } from "../results/store.ts";
import { evalMqar, runScript } from "./_script.ts";

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
  // lm-eval's record of how prompts were formed: plain prompts here.
  assert.deepEqual(
    [json.chat_template, json.chat_template_sha, json.system_instruction, json.fewshot_as_multiturn],
    [null, null, null, false],
  );
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
  assert.match(table.stdout, /tiny-llama\s+llama\s+baseline\s+\d\.\d{4}/);
  // The measured bytes beside what the model's config promises (its kvbench.json formula).
  assert.match(table.stdout, /KV formula \(config\)/);
  assert.match(table.stdout, /\s512\s+2 \* L \* n_kv \* d_h \* s\s/);
  assert.match(table.stdout, /kv=4 len=64/);
  const json = JSON.parse((await run("report", ["--db", db, "--format", "json"])).stdout);
  assert.equal(json.rows[0].kvBytesPerToken, 512);
  assert.equal(json.rows[0].compression, 1);
  const csv = (await run("report", ["--db", db, "--format", "csv"])).stdout;
  assert.match(
    csv.split("\n")[0],
    /^model,family,cache_kind,run_id,task,metric,num_kv_pairs,context_len,depth,value,/,
  );
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
  const runs = await readDb(db, (s) => s.query("SELECT count(*) AS n FROM runs"));
  assert.equal(runs[0].n, 1, "the mistake is found before any model runs");
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
  const models = families.map((f) => join(root, "tests/fixtures", f));
  const res = await evalMqar(db, models, { kvPairs: "4", lengths: "64", limit: "10" });
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

Deno.test("bad input: a bad second model is found before the first one runs", async () => {
  await expectUserError(
    ["--model", `${llama},/no/such/model`, "--kv-pairs", "4", "--lengths", "64", "--limit", "4"],
    /Cannot load model "\/no\/such\/model" as it is not a directory/,
  );
  const dir = modelDirWith({
    "model.onnx": Deno.readFileSync(join(root, "tests/data/broken/no_logits/model.onnx")),
  });
  await expectUserError(["--model", `${llama},${dir}`, "--limit", "4"], /has no "logits" output/);
});

Deno.test("bad input: a sweep cell that cannot be built is an error up front, not a NaN score", async () => {
  await expectUserError(
    ["--model", llama, "--tasks", "mqar", "--kv-pairs", "64", "--lengths", "64"],
    /Cannot build the mqar cell kv=64 × len=64 as 64 pairs and their queries need at least 256 tokens/,
  );
  // The fixture's max length is 256.
  await expectUserError(
    ["--model", llama, "--tasks", "mqar", "--kv-pairs", "4", "--lengths", "64,512"],
    /Cannot build the mqar cell kv=4 × len=512 as 512 tokens exceed the model's max length 256/,
  );
  await expectUserError(
    [
      "--model",
      llama,
      "--tasks",
      "mqar,mqar_text",
      "--kv-pairs",
      "16",
      "--lengths",
      "64,256",
      "--limit",
      "2",
    ],
    /Cannot build the mqar_text cell kv=16 × len=64 as its smallest example .* takes \d+ tokens/,
  );
});

Deno.test("bad input: a RULER task too long for a length fails before the tasks ahead of it run", async () => {
  await expectUserError(
    ["--model", llama, "--tasks", "mqar,niah_single_1", "--lengths", "64", "--limit", "2"],
    /Cannot fit niah_single_1 into 64 tokens: its smallest input takes \d+ tokens/,
  );
});

Deno.test("bad input: with --offline, a missing data file is found before any model runs", async () => {
  await expectUserError(
    ["--model", llama, "--tasks", "mqar,arc_easy", "--offline", "--data-dir", tempDir(), "--limit", "2"],
    /Cannot load arc_easy \(allenai\/ai2_arc, split test\) as .* is missing and downloads are off: put it at/,
  );
});

Deno.test("bad input: an --output-path that cannot be written is found before any model runs", async () => {
  const file = join(tempDir(), "a-file");
  writeFileSync(file, "");
  await expectUserError(
    ["--model", llama, "--limit", "2", "--output-path", join(file, "out.json")],
    /Cannot write results to --output-path .*a-file\/out\.json \(.*\): pass a file\.json or a folder/,
  );
});

Deno.test("bad input: a kvbench.json with a wrong type names the file, field, value and type", async () => {
  const sidecar = JSON.parse(Deno.readTextFileSync(join(llama, "kvbench.json")));
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { family: ["llama"] },
      /kvbench\.json as its "family" is \["llama"\] \(an array\) where kvbench expects a non-empty string/,
    ],
    [{ max_length: "lots" }, /"max_length" is "lots" \(a string\) where kvbench expects a positive integer/],
    [{ name: 42 }, /"name" is 42 \(a number\) where kvbench expects a non-empty string/],
  ];
  for (const [change, expected] of cases) {
    const dir = modelDirWith({
      "model.onnx": Deno.readFileSync(join(llama, "model.onnx")),
      "kvbench.json": JSON.stringify({ ...sidecar, ...change }),
    });
    await expectUserError(["--model", dir], expected);
  }
});

Deno.test("bad input: --limit -1, --limit 0 and an empty --model are one line each", async () => {
  await expectUserError(
    ["--model", llama, "--limit", "-1"],
    /--limit must be a whole number of docs ≥ 1 or a fraction between 0 and 1, e\.g\. 0\.1 \(got "-1"\)/,
  );
  await expectUserError(["--model", llama, "--limit", "0"], /--limit must be/);
  await expectUserError(["--model", ""], /--model needs a model directory \(got ""\)/);
});

Deno.test("eval takes a fractional --limit: that share of each cell's examples", async () => {
  const db = join(tempDir(), "db.duckdb");
  const res = await run("eval", [
    "--model",
    llama,
    "--kv-pairs",
    "4,8",
    "--lengths",
    "64",
    "--limit",
    "0.05",
    "--db",
    db,
    "--no-report",
  ]);
  assert.equal(res.code, 0, res.stderr);
  const n = await readDb(db, (s) => s.query("SELECT count(*) AS n FROM samples"));
  assert.equal(n[0].n, 10, "ceil(100 × 0.05) per cell, two cells");
});

Deno.test("a full disk is one line saying so, exit 2, and the finished samples are kept", async () => {
  const dir = tempDir();
  const db = join(dir, "db.duckdb");
  assert.equal((await run("eval", evalArgs(db))).code, 0);
  // Every write of the next run lands in DuckDB's write-ahead log, here a device that is always full.
  Deno.symlinkSync("/dev/full", `${db}.wal`);
  const res = await run("eval", evalArgs(db));
  Deno.removeSync(`${db}.wal`);
  assert.equal(res.code, 2, res.stderr);
  const lines = res.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${res.stderr}`);
  assert.match(
    lines[0],
    new RegExp(
      `Cannot write the results database ${db} as the disk holding ${dir} is full \\(.*No space left on device\\)`,
    ),
  );
  const kept = await readDb(
    db,
    (s) => s.query("SELECT r.status, count(*) AS n FROM samples s JOIN runs r ON r.id = s.run_id GROUP BY 1"),
  );
  assert.deepEqual(kept, [{ status: "done", n: 160 }]);
});

Deno.test("Ctrl-C says what was kept and exits 130; the same command resumes from it", async () => {
  const dir = tempDir();
  const db = join(dir, "db.duckdb");
  const stopped = await run("eval", evalArgs(db), {
    KVBENCH_KILL_AFTER_BATCHES: "2",
    KVBENCH_KILL_SIGNAL: "SIGINT",
  });
  assert.equal(stopped.code, 130, stopped.stderr);
  const lines = stopped.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${stopped.stderr}`);
  const said =
    /^kvbench: interrupted: kept (\d+) finished samples of tiny-llama \(run 1\) in .*db\.duckdb .*: run the same command again to resume$/
      .exec(lines[0]);
  assert.ok(said, lines[0]);
  const [runs, kept] = await Promise.all([
    readDb(db, (s) => s.query("SELECT id, status FROM runs")),
    readDb(db, (s) => s.query("SELECT count(*) AS n FROM samples")),
  ]);
  assert.deepEqual(
    runs,
    [{ id: 1, status: "interrupted" }],
    "marked at once, and the database closed cleanly",
  );
  assert.equal(kept[0].n, Number(said[1]));
  assert.ok(kept[0].n >= 128, "both committed batches are kept");
  const resumed = await run("eval", evalArgs(db));
  assert.equal(resumed.code, 0, resumed.stderr);
  const reused = await readDb(
    db,
    (s) => s.query("SELECT count(*) AS n FROM samples WHERE run_id = 2 AND reused_from = 1"),
  );
  assert.equal(reused[0].n, kept[0].n);
});

Deno.test("eval --report-html writes this invocation's page; an unwritable folder is refused before any work", async () => {
  const dir = tempDir();
  const page = join(dir, "report");
  const db = join(dir, "r.duckdb");
  const cells = { kvPairs: "4", lengths: "64", limit: "4" };
  const ok = await evalMqar(db, [llama], cells, ["--report-html", page]);
  assert.equal(ok.code, 0, ok.stderr);
  const html = Deno.readTextFileSync(join(page, "index.html"));
  assert.match(html, /<svg/);
  assert.match(html, /tiny-llama/);
  writeFileSync(join(dir, "file"), "");
  const refused = await evalMqar(db, [llama], cells, ["--report-html", join(dir, "file", "sub")]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /Cannot write results to --report-html/);
});

Deno.test("--output-path records the chat template, its sha and the system instruction as lm-eval does", async () => {
  const dir = tempDir();
  const model = join(dir, "chat-llama");
  Deno.mkdirSync(model);
  for (const f of Deno.readDirSync(llama)) {
    if (f.isFile) copyFileSync(join(llama, f.name), join(model, f.name));
  }
  const chat = join(root, "tests/data/chat_template");
  copyFileSync(join(chat, "model/tokenizer_config.json"), join(model, "tokenizer_config.json"));
  const out = join(dir, "out.json");
  const res = await run("eval", [
    "--model",
    model,
    "--tasks",
    "arc_easy",
    "--offline",
    "--data-dir",
    join(chat, "data"),
    "--limit",
    "2",
    "--apply_chat_template",
    "--system_instruction",
    "Answer briefly.",
    "--db",
    join(dir, "db.duckdb"),
    "--output-path",
    out,
    "--no-report",
  ]);
  assert.equal(res.code, 0, res.stderr);
  const json = JSON.parse(Deno.readTextFileSync(out));
  assert.match(json.chat_template, /\{%/, "the template's text");
  assert.equal(json.chat_template_sha.length, 64);
  assert.equal(json.system_instruction, "Answer briefly.");
  assert.equal(json.system_instruction_sha.length, 64);
  assert.equal(json.fewshot_as_multiturn, true);
});
