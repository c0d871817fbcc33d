import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Store } from "../results/store.ts";
import { runScript } from "./_script.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

function bench(args: string[]) {
  return runScript("bench", args);
}

/** A small run: two contexts, two batch sizes, a short mix. */
const SMALL_RUN = ["--contexts", "16,24", "--decode", "4", "--batches", "1,3", "--mc", "2"];

/** The rows {@linkcode SMALL_RUN} gives, in order. */
const EXPECTED_ROWS = [
  "prefill@16x1",
  "decode@16x1",
  "decode@16x3",
  "prefill@24x1",
  "decode@24x1",
  "decode@24x3",
  "score-mc-first@nullx8",
  "score-mc@nullx8",
];

Deno.test("bench measures prefill, decode at each batch size and scoring, and stores them in perf", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-bench-"));
  const db = join(dir, "bench.duckdb");
  const json = join(dir, "bench.json");
  const model = join(root, "tests/fixtures/llama");
  const r = await bench(["--model", model, ...SMALL_RUN, "--hbm-gbps", "100", "--db", db, "--json", json]);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(readFileSync(json, "utf8")).rows as {
    work: string;
    context: number | null;
    batch: number;
    tokens: number;
    bandwidthFraction: number | null;
  }[];
  assert.deepEqual(
    rows.map((row) => `${row.work}@${row.context}x${row.batch}`),
    EXPECTED_ROWS,
  );
  assert.equal(rows[2].tokens, 12);
  for (const row of rows) assert.equal(row.bandwidthFraction !== null, row.work === "decode", row.work);
  assert.ok(rows[1].bandwidthFraction! > 0);
  const store = await Store.open(db, { readOnly: true });
  try {
    const perf = await store.query("SELECT task, tokens, max_state_bytes FROM perf ORDER BY task");
    assert.equal(perf.length, 8);
    const decode = perf.find((p) => p.task === "bench/decode@24x3")!;
    assert.equal(decode.tokens, 12);
    // 3 rows of 24 prompt tokens, the untimed step and 4 decoded, at the fixture's 512 B/token.
    assert.equal(decode.max_state_bytes, 3 * 29 * 512);
  } finally {
    store.close();
  }
});

Deno.test("bench runs a static cache: decode from copies of the prefilled row, scoring within its positions", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-bench-"));
  const json = join(dir, "bench.json");
  const model = join(root, "tests/fixtures/llama-static");
  // With prefix reuse (the default, named so the setting is recorded): continuations position by position.
  const args = [...SMALL_RUN, "--prefix-reuse", "on"];
  const r = await bench(["--model", model, ...args, "--db", join(dir, "bench.duckdb"), "--json", json]);
  assert.equal(r.code, 0, r.stderr);
  const written = JSON.parse(readFileSync(json, "utf8"));
  assert.equal(written.settings.prefixReuse, true);
  assert.deepEqual(written.settings.batches, [1, 3]);
  assert.match(written.versions.onnxruntime, /^1\.29/);
  const rows = written.rows as {
    work: string;
    context: number | null;
    batch: number;
    kvBytesPerToken: number;
  }[];
  assert.deepEqual(
    rows.map((row) => `${row.work}@${row.context}x${row.batch}`),
    EXPECTED_ROWS,
  );
  // Measured on the preallocated buffers (bytes over rows × slots): the fixture's 512 B/token.
  for (const row of rows.filter((r) => !r.work.startsWith("score-mc"))) {
    assert.equal(row.kvBytesPerToken, 512);
  }
});

Deno.test("bench refuses bad flags in one line", async () => {
  const model = join(root, "tests/fixtures/llama");
  const db = join(mkdtempSync(join(tmpdir(), "kvbench-bench-")), "bench.duckdb");
  for (
    const [flags, message] of [
      ["--device webgpu", /--device must be one of cpu, cuda/],
      ["--tf32 maybe", /--tf32 must be on or off \(got "maybe"\)/],
      ["--decode 0", /--decode must be positive integers/],
      ["--batches 1,x", /--batches must be positive integers separated by commas \(got "1,x"\)/],
      ["--hbm-gbps 0", /--hbm-gbps must be a positive number/],
      ["--prefix-reuse maybe", /--prefix-reuse must be on or off \(got "maybe"\)/],
      // The fixture has 256 positions: a 250-token prompt leaves no room for 8 (+ 1 untimed) steps.
      [
        "--contexts 250 --decode 8",
        /with 8 decode steps and 1 untimed before them it needs 259 positions and the model has 256: pass --contexts of at most 247/,
      ],
    ] as const
  ) {
    const r = await bench(["--model", model, ...flags.split(" "), "--db", db]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

Deno.test("every command prints its usage for --help and does nothing else", async () => {
  for (const script of ["bench", "parity", "nightly", "report", "setup_cuda", "ort_slots"]) {
    const r = await runScript(script, ["--help"]);
    assert.equal(r.code, 0, `${script}: ${r.stderr}`);
    assert.match(r.stdout, /^(Usage: )?deno task /, script);
    assert.equal(r.stderr, "", script);
  }
});
