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

Deno.test("bench measures stepped and looped prefill and decode and scoring, and stores them in perf", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-bench-"));
  const db = join(dir, "bench.duckdb");
  const json = join(dir, "bench.json");
  const model = join(root, "tests/fixtures/llama");
  const r = await bench([
    "--model",
    model,
    "--contexts",
    "16,24",
    "--decode",
    "4",
    "--mc",
    "2",
    "--host-decode",
    "3",
    "--decode-loop",
    "--prefill-loop",
    "--score-graph",
    "--db",
    db,
    "--json",
    json,
  ]);
  assert.equal(r.code, 0, r.stderr);
  // The loop starts from the same token, so it must reproduce the stepped decode exactly (as far
  // as the 3 host-state steps go).
  assert.match(r.stderr, /decode-loop@16: 2\/2 tokens as stepped decode/);
  assert.match(r.stderr, /decode-loop@24: 2\/2 tokens as stepped decode/);
  assert.match(
    r.stderr,
    /score-mc-graph: log-probs within \d\.\d\de-[1-9]\d* of the stepped scoring's; greedy flags 8\/8/,
  );
  assert.match(r.stderr, /prefill-loop@24: last logits within 0\.00e\+0 of the stepped prefill's/);
  const rows = JSON.parse(readFileSync(json, "utf8")).rows as { work: string; context: number | null }[];
  assert.deepEqual(
    rows.map((row) => `${row.work}@${row.context}`),
    [
      "prefill@16",
      "decode@16",
      "decode-loop@16",
      "prefill-loop@16",
      "prefill@24",
      "decode@24",
      "decode-loop@24",
      "prefill-loop@24",
      "score-mc@null",
      "score-mc-graph@null",
    ],
  );
  const store = await Store.open(db, { readOnly: true });
  try {
    const perf = await store.query("SELECT task, tokens, max_state_bytes FROM perf ORDER BY task");
    assert.equal(perf.length, 10);
    const loop = perf.find((p) => p.task === "bench/decode-loop@24")!;
    assert.equal(loop.tokens, 4);
    assert.equal(perf.find((p) => p.task === "bench/decode@24")!.tokens, 3);
    // 24 prompt tokens + 4 decoded, at the fixture's 512 B/token.
    assert.equal(loop.max_state_bytes, 28 * 512);
  } finally {
    store.close();
  }
});

Deno.test("bench refuses a state location the device can't hold, in one line", async () => {
  const model = join(root, "tests/fixtures/llama");
  const db = join(mkdtempSync(join(tmpdir(), "kvbench-bench-")), "bench.duckdb");
  for (
    const [location, message] of [
      ["gpu-buffer", /gpu-buffer needs --device webgpu/],
      ["cpu-pinned", /cpu-pinned needs --device cuda/],
      ["vram", /--state-location must be cpu, cpu-pinned or gpu-buffer/],
      [
        "gpu-buffer --decode-loop",
        /Cannot use --decode-loop or --prefill-loop with --state-location gpu-buffer/,
      ],
      ["cpu --tf32 maybe", /--tf32 must be on or off \(got "maybe"\)/],
      ["cpu --host-decode 0", /--decode and --host-decode must be positive integers/],
    ] as const
  ) {
    const [where, ...extra] = location.split(" ");
    const r = await bench(["--model", model, "--state-location", where, ...extra, "--db", db]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
