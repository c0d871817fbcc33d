/**
 * How one evaluation is cut into shards: which shard this process is (from `--shard I/N`, or from a
 * scheduler's environment), and which documents of a task it runs. The cut is by document, so
 * few-shot sampling, prefix reuse and aggregation stay exactly what the unsharded run does, and it
 * balances estimated tokens rather than document counts.
 *
 * @module
 */

import { UserError } from "../core/errors.ts";
import type { Request } from "../core/requests.ts";

/** The `index`-th (from 0) of `count` disjoint slices of the work. */
export interface Shard {
  /** This shard, 0 ≤ index < count. */
  index: number;
  /** Number of shards. */
  count: number;
}

/** Parses `I/N` (I counted from 0). */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!match || count < 1 || index >= count) {
    throw new UserError(
      `--shard must be I/N with 0 ≤ I < N, counting shards from 0 (got "${text}"): e.g. --shard 0/4 … 3/4`,
    );
  }
  return { index, count };
}

/**
 * The shard this process is: `--shard I/N` when given; with `--shards N`, the index a scheduler
 * gives each of its N tasks — a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`, or a Slurm
 * array's `SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN`; else none (the whole work). The
 * environment is read only when `--shards` asks for it, so a run that happens to sit in a job
 * array is not cut up unasked.
 */
export function resolveShard(
  flags: { shard?: string | null; shards?: number | null },
  env: Readonly<Record<string, string | undefined>>,
): Shard | null {
  if (flags.shard) {
    if (flags.shards) throw new UserError("Pass --shard I/N or --shards N, not both");
    return parseShard(flags.shard);
  }
  if (!flags.shards) return null;
  const k8s = env.JOB_COMPLETION_INDEX;
  if (k8s !== undefined && k8s !== "") return parseShard(`${k8s}/${flags.shards}`);
  const slurm = env.SLURM_ARRAY_TASK_ID;
  if (slurm !== undefined && slurm !== "") {
    const size = env.SLURM_ARRAY_TASK_COUNT;
    if (size && Number(size) !== flags.shards) {
      throw new UserError(
        `--shards ${flags.shards} disagrees with the Slurm array's ${size} tasks: pass --shards ${size}`,
      );
    }
    return parseShard(`${Number(slurm) - Number(env.SLURM_ARRAY_TASK_MIN ?? 0)}/${flags.shards}`);
  }
  throw new UserError(
    "--shards N needs the shard's index: run it as a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) " +
      "or a Slurm array (SLURM_ARRAY_TASK_ID), or pass --shard I/N",
  );
}

/**
 * Indices of the items that fall to `shard`: longest-processing-time-first over `weights` (the
 * heaviest item goes to the least-loaded shard, ties to the lower shard, then the lower index),
 * so every machine computes the same cut and the shards' loads differ by at most one item.
 */
export function shardItems(weights: readonly number[], shard: Shard): number[] {
  if (shard.count === 1) return weights.map((_, i) => i);
  const order = weights.map((_, i) => i).sort((a, b) => weights[b] - weights[a] || a - b);
  const loads = new Array(shard.count).fill(0);
  const mine: number[] = [];
  for (const i of order) {
    let target = 0;
    for (let s = 1; s < shard.count; s++) if (loads[s] < loads[target]) target = s;
    loads[target] += weights[i];
    if (target === shard.index) mine.push(i);
  }
  return mine.sort((a, b) => a - b);
}

/**
 * A document's cost in tokens, estimated from its requests' text (about four characters a token)
 * and token ids, without a tokenizer: what shards balance.
 */
export function estimatedTokens(requests: readonly Request[]): number {
  let chars = 0;
  let tokens = 0;
  for (const r of requests) {
    switch (r.kind) {
      case "loglikelihood":
        chars += r.context.length + r.continuation.length;
        break;
      case "loglikelihood_rolling":
        chars += r.text.length;
        break;
      case "generate_until":
        chars += r.context.length;
        tokens += r.maxGenToks;
        break;
      case "token_argmax":
        tokens += r.tokens.length;
        break;
    }
  }
  return Math.ceil(chars / 4) + tokens + 1;
}
