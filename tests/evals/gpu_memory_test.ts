import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GpuMemorySampler } from "../../evals/gpu_memory.ts";

/** Runs `body` with a stand-in `nvidia-smi` first on PATH, printing `script`'s output. */
async function withFakeSmi(script: string, body: () => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), "kvbench-smi-"));
  const path = join(dir, "nvidia-smi");
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
  const saved = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", `${dir}:${saved}`);
  try {
    await body();
  } finally {
    Deno.env.set("PATH", saved);
  }
}

Deno.test("GpuMemorySampler keeps the highest reading of its GPU since the last take()", async () => {
  const go = join(mkdtempSync(join(tmpdir(), "kvbench-smi-go-")), "go");
  // The stand-in streams with -lms and answers a one-off query with 150 MiB on GPU 0.
  await withFakeSmi(
    `case "$*" in *-lms*) ;; *) printf '0, 150\\n1, 90000\\n'; exit 0 ;; esac; ` +
      `printf '0, 100\\n1, 70000\\n0, 300\\n'; while [ ! -e ${go} ]; do sleep 0.05; done; ` +
      `printf '0, 200\\n'; exec sleep 30`,
    async () => {
      const sampler = GpuMemorySampler.start(0)!;
      // Readings arrive when the stand-in prints them: poll rather than guess at timing.
      const until = async (done: (peak: number) => boolean) => {
        let peak = 0;
        for (let i = 0; i < 200 && !done(peak); i++) {
          await new Promise((r) => setTimeout(r, 50));
          peak = Math.max(peak, sampler.take() ?? 0);
        }
        return peak;
      };
      try {
        assert.equal(await until((p) => p >= 300 * 2 ** 20), 300 * 2 ** 20, "GPU 1's reading is not GPU 0's");
        writeFileSync(go, "");
        assert.equal(await until((p) => p >= 200 * 2 ** 20), 200 * 2 ** 20, "take() starts over");
        assert.equal(sampler.take(), 150 * 2 ** 20, "with nothing streamed since, the reading taken now");
      } finally {
        await sampler.stop();
      }
    },
  );
});

Deno.test("GpuMemorySampler.start is null where nvidia-smi can't run", async () => {
  const saved = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", mkdtempSync(join(tmpdir(), "kvbench-empty-")));
  try {
    assert.equal(GpuMemorySampler.start(0), null);
  } finally {
    Deno.env.set("PATH", saved);
  }
  await Promise.resolve();
});
