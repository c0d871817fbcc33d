/**
 * Peak device memory while work runs, sampled from `nvidia-smi`: onnxruntime-node reports none,
 * and its arena (which grows and is not given back) is what decides whether a run fits.
 *
 * @module
 */

/** Samples one GPU's memory in use and keeps the highest reading since the last {@linkcode take}. */
export class GpuMemorySampler {
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<void>;
  #peak = 0;
  #sampled = false;

  private constructor(child: Deno.ChildProcess, gpu: number) {
    this.#child = child;
    this.#done = (async () => {
      let pending = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          // One line per GPU per sample: "index, MiB".
          const [index, used] = line.split(",").map((f) => Number(f.trim()));
          if (index !== gpu || !Number.isFinite(used)) continue;
          this.#peak = Math.max(this.#peak, used * 2 ** 20);
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
        args: [
          "--query-gpu=index,memory.used",
          "--format=csv,noheader,nounits",
          `-lms`,
          String(intervalMs),
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      return new GpuMemorySampler(child, gpu);
    } catch {
      return null;
    }
  }

  /** The highest reading (bytes) since the last call, or null if none came; then starts over. */
  take(): number | null {
    const peak = this.#sampled ? this.#peak : null;
    this.#peak = 0;
    this.#sampled = false;
    return peak;
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
