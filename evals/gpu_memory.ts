/**
 * Peak device memory while work runs, sampled from `nvidia-smi`: onnxruntime-node reports none,
 * and its arena (which grows and is not given back) is what decides whether a run fits.
 *
 * @module
 */

/**
 * Samples one GPU's memory in use and keeps the highest reading since the last {@linkcode take}.
 *
 * Two sources, because neither is enough alone: a background `nvidia-smi -lms` stream, whose
 * lines came late or not at all in the H200 run of 2026-12-01 (its output is a pipe, which C
 * programs usually block-buffer), and a reading taken at {@linkcode take} itself. onnxruntime's
 * arena only grows, so the reading at the end of a measurement is also its highest for
 * onnxruntime's own memory.
 */
export class GpuMemorySampler {
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<void>;
  readonly #gpu: number;
  #peak = 0;
  #sampled = false;

  private constructor(child: Deno.ChildProcess, gpu: number) {
    this.#child = child;
    this.#gpu = gpu;
    this.#done = (async () => {
      let pending = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          const used = readingOf(line, gpu);
          if (used === null) continue;
          this.#peak = Math.max(this.#peak, used);
          this.#sampled = true;
        }
      }
    })();
  }

  /**
   * Starts sampling GPU `gpu` every `intervalMs`; null where `nvidia-smi` can't be run (no NVIDIA
   * driver, or another vendor's device), in which case no peak is recorded.
   */
  static start(gpu = 0, intervalMs = 100): GpuMemorySampler | null {
    try {
      const child = new Deno.Command("nvidia-smi", {
        args: [...QUERY, "-lms", String(intervalMs)],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      return new GpuMemorySampler(child, gpu);
    } catch {
      return null;
    }
  }

  /**
   * The highest reading (bytes) since the last call, the one taken now included; null if there
   * is none. Then starts over.
   */
  take(): number | null {
    const now = readNow(this.#gpu);
    const streamed = this.#sampled ? this.#peak : null;
    this.reset();
    if (now === null) return streamed;
    return streamed === null ? now : Math.max(now, streamed);
  }

  /** Forgets the readings so far, as at the start of a measurement (no `nvidia-smi` call). */
  reset(): void {
    this.#peak = 0;
    this.#sampled = false;
  }

  /** Stops sampling. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.#done.catch(() => {});
    await this.#child.status;
  }
}

const QUERY = ["--query-gpu=index,memory.used", "--format=csv,noheader,nounits"];

/** Bytes in use on `gpu` from one `nvidia-smi` line ("index, MiB"), or null for another GPU. */
function readingOf(line: string, gpu: number): number | null {
  const [index, used] = line.split(",").map((f) => Number(f.trim()));
  return index === gpu && Number.isFinite(used) ? used * 2 ** 20 : null;
}

/** One reading of `gpu` now, or null where `nvidia-smi` doesn't answer. */
function readNow(gpu: number): number | null {
  try {
    const out = new Deno.Command("nvidia-smi", { args: QUERY, stdout: "piped", stderr: "null" }).outputSync();
    if (!out.success) return null;
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      const used = readingOf(line, gpu);
      if (used !== null) return used;
    }
    return null;
  } catch {
    return null;
  }
}
