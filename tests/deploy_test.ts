/**
 * The deploy files: the Kubernetes Indexed Job and the Slurm array are parsed and checked for the
 * fields that make them shard correctly, and each pod's (each array task's) exact command is run
 * here with the scheduler's index variables set, then the merge step's.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { Store } from "../results/store.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LLAMA = join(ROOT, "tests/fixtures/llama");
// Small work for the local run; the commands themselves are the files' own.
const LOCAL = { MODEL: LLAMA, TASKS: "mqar", EVAL_ARGS: "--kv-pairs 4 --lengths 64 --limit 9" };

interface Container {
  command: string[];
  args: string[];
  env: { name: string; value: string }[];
  resources?: { limits?: Record<string, unknown> };
  volumeMounts?: { mountPath: string }[];
}

function job(file: string) {
  const doc = parse(readFileSync(join(ROOT, "deploy/kubernetes", file), "utf8"));
  const container = doc.spec.template.spec.containers[0] as Container;
  return { doc, container, env: Object.fromEntries(container.env.map((e) => [e.name, e.value])) };
}

/** A PATH whose `deno` is the Deno running the tests, as the image's is. */
function pathWithDeno(): string {
  const bin = mkdtempSync(join(tmpdir(), "kvbench-bin-"));
  symlinkSync(Deno.execPath(), join(bin, "deno"));
  return `${bin}:${Deno.env.get("PATH")}`;
}

async function sh(argv: string[], env: Record<string, string>): Promise<void> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: ROOT,
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, `${argv.join(" ")}\n${new TextDecoder().decode(out.stderr)}`);
}

async function mergedSamples(db: string): Promise<number> {
  const store = await Store.open(db, { readOnly: true });
  try {
    const [run] = await store.query("SELECT id, status, args FROM runs");
    assert.equal(run.status, "done");
    assert.equal(JSON.parse(String(run.args)).mergedFrom.length, 4);
    const [{ n }] = await store.query(`SELECT count(*)::INT AS n FROM samples WHERE run_id = ${run.id}`);
    return n as number;
  } finally {
    store.close();
  }
}

Deno.test("the Kubernetes Indexed Job shards by completion index, one GPU a pod, and its commands run", async () => {
  const { doc, container, env } = job("eval-job.yaml");
  assert.equal(doc.kind, "Job");
  assert.equal(doc.spec.completionMode, "Indexed");
  assert.equal(doc.spec.parallelism, doc.spec.completions);
  assert.equal(Number(env.SHARDS), doc.spec.completions, "SHARDS must equal completions");
  assert.equal(doc.spec.template.spec.restartPolicy, "Never");
  assert.equal(container.resources?.limits?.["nvidia.com/gpu"], 1);
  assert.ok(
    container.volumeMounts?.some((m) => env.SHARD_DIR.startsWith(m.mountPath)),
    "shards on the volume",
  );
  assert.match(container.args[0], /--shards "\$SHARDS"/);
  assert.match(container.args[0], /shard-\$JOB_COMPLETION_INDEX\.duckdb/);

  const dir = mkdtempSync(join(tmpdir(), "kvbench-k8s-"));
  const PATH = pathWithDeno();
  const local = { ...env, ...LOCAL, SHARD_DIR: join(dir, "shards"), PATH };
  for (let index = 0; index < doc.spec.completions; index++) {
    await sh([...container.command, ...container.args], { ...local, JOB_COMPLETION_INDEX: String(index) });
  }
  const merge = job("merge-job.yaml");
  const out = join(dir, "results", "kvbench.duckdb");
  await sh([...merge.container.command, ...merge.container.args], {
    ...merge.env,
    SHARD_DIR: local.SHARD_DIR,
    OUT: out,
    PATH,
  });
  assert.equal(await mergedSamples(out), 9);
});

Deno.test("the Slurm array shards by task id and its scripts run", async () => {
  const script = join(ROOT, "deploy/slurm/eval-array.sh");
  const array = /#SBATCH --array=(\d+)-(\d+)/.exec(readFileSync(script, "utf8"));
  assert.ok(array, "the script declares its array");
  const [first, last] = [Number(array[1]), Number(array[2])];
  const dir = mkdtempSync(join(tmpdir(), "kvbench-slurm-"));
  const env = { ...LOCAL, SHARD_DIR: join(dir, "shards"), PATH: pathWithDeno() };
  for (let id = first; id <= last; id++) {
    await sh(["bash", script], {
      ...env,
      SLURM_ARRAY_TASK_ID: String(id),
      SLURM_ARRAY_TASK_MIN: String(first),
      SLURM_ARRAY_TASK_COUNT: String(last - first + 1),
    });
  }
  const out = join(dir, "merged.duckdb");
  await sh(["bash", join(ROOT, "deploy/slurm/merge.sh")], { ...env, OUT: out });
  assert.equal(await mergedSamples(out), 9);
});
