/**
 * `deno task report` (and the table `deno task eval` ends with) as a user runs them.
 */

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { evalMqar, ROOT, runScript } from "../_script.ts";

const fixture = (path: string) => join(ROOT, path);

const mqar = (
  db: string,
) => ["--tasks", "mqar", "--kv-pairs", "4", "--lengths", "64", "--limit", "8", "--db", db];

function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), "kvbench-report-")), "db.duckdb");
}

/** Checks a command failed as bad input does: exit 2, one line on stderr matching `pattern`. */
function assertOneLine(res: { code: number; stderr: string }, pattern: RegExp) {
  assert.equal(res.code, 2, res.stderr);
  const lines = res.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${res.stderr}`);
  assert.match(lines[0], pattern);
}

Deno.test("a geometry fixture beside the zoo: each compared with its own llama; eval's table shows its own runs", async () => {
  const db = tempDb();
  const earlier = await evalMqar(db, [fixture("tests/fixtures/llama")], { kvPairs: "4", limit: "8" });
  assert.equal(earlier.code, 0, earlier.stderr);
  const models = ["tests/fixtures/geometry/llama3.2-1b-gqa", "models/llama", "models/transmla"].map(fixture);
  const res = await runScript("eval", ["--model", models.join(","), ...mqar(db)]);
  assert.equal(res.code, 0, res.stderr);
  // The closing table: this invocation's three models, value ± stderr, no tiny-llama from before.
  assert.match(res.stdout, /^mqar-transmla\s+transmla\s+converted MLA\s+\d\.\d{4} ± \d\.\d{4}\s/m);
  assert.match(res.stdout, /^llama3\.2-1b-gqa\s+llama\s/m);
  assert.doesNotMatch(res.stdout, /tiny-llama/);
  assert.doesNotMatch(res.stdout, /64\.00×/);

  const report = async (...args: string[]) => {
    const out = await runScript("report", ["--db", db, "--format", "json", ...args]);
    assert.equal(out.code, 0, out.stderr);
    const board = JSON.parse(out.stdout);
    return Object.fromEntries(
      board.rows.map((r: { model: string; compression: number | null }) => [r.model, r.compression]),
    );
  };
  assert.deepEqual(await report(), {
    "llama3.2-1b-gqa": 1,
    "mqar-llama": 1,
    "mqar-transmla": 512 / 192,
    "tiny-llama": 1,
  });
  assert.deepEqual(await report("--baseline", "llama3.2-1b-gqa", "--models", "mqar-llama,tiny-llama"), {
    "mqar-llama": 64,
    "tiny-llama": 64,
  });
  assert.deepEqual(Object.keys(await report("--runs", "1,3")), ["mqar-llama", "tiny-llama"]);
});

Deno.test("report refuses an unknown model, run or baseline in one line", async () => {
  const db = tempDb();
  const eval_ = await evalMqar(db, [fixture("tests/fixtures/llama")], { kvPairs: "4", limit: "8" });
  assert.equal(eval_.code, 0, eval_.stderr);
  const report = (...args: string[]) => runScript("report", ["--db", db, ...args]);
  assertOneLine(
    await report("--models", "gpt"),
    /Cannot report model "gpt": .* models with one are tiny-llama/,
  );
  assertOneLine(
    await report("--runs", "7"),
    /Cannot report run 7: there is no such run; finished runs are 1/,
  );
  assertOneLine(await report("--runs", "one"), /--runs takes run ids/);
  assertOneLine(await report("--baseline", "gpt"), /Cannot use baseline "gpt"/);
});

Deno.test("report (and eval) while another process writes the database: one line naming it and what to do", async () => {
  const db = tempDb();
  const holder = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "tests/results/_hold_db.ts"), db],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let seen = "";
    while (!seen.includes("ready")) {
      const { value, done } = await lines.read();
      assert.ok(!done, "the holder exited before locking the database");
      seen += value;
    }
    const res = await runScript("report", ["--db", db]);
    assertOneLine(
      res,
      new RegExp(
        `Cannot read .*db\\.duckdb while process ${holder.pid} \\(deno\\) has it open for writing .*: ` +
          "wait for it to finish, or copy the file and pass --db COPY, or pass --db with another database",
      ),
    );
    // And an eval started meanwhile, which needs to write it.
    const evalRes = await runScript("eval", [
      "--model",
      fixture("tests/fixtures/llama"),
      ...mqar(db),
      "--no-report",
    ]);
    assertOneLine(
      evalRes,
      new RegExp(`Cannot write .*db\\.duckdb while process ${holder.pid} \\(deno\\) has it open`),
    );
  } finally {
    await lines.cancel();
    await holder.stdin.close();
    assert.equal((await holder.status).code, 0);
  }
  // Once the writer is gone the same file reads.
  const after = await runScript("report", ["--db", db]);
  assert.equal(after.code, 0, after.stderr);
});
