/**
 * What the GPU scoring experiments (score_check.ts, score_hybrid.ts) share: their flags, and how two
 * ways of scoring the same pairs are held together.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { LoglikelihoodResponse, TokenPair } from "../../core/requests.ts";

/** Largest log-prob difference a continuation token that two ways may show (fp16 call shapes differ). */
const TOLERANCE = 0.05;

/** The scripts' common flags, and their positional model directories. */
export interface ScoringFlags {
  dirs: string[];
  device: "cuda" | "cpu";
  /** Contexts in bench's mix. */
  mc: number;
  /** Rounds of the alternation. */
  rounds: number;
  /** Contexts a batch. */
  batch: number;
}

/** Parses `DIR…` (`dirs` of them) and the common flags; a usage line and exit 2 on bad input. */
export function scoringFlags(script: string, dirNames: string[]): ScoringFlags {
  const usage = `${script}: usage: deno run -A scripts/gpu/${script}.ts ${
    dirNames.join(" ")
  } [--device cuda|cpu] [--mc N] [--rounds N] [--batch N]`;
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        device: { type: "string", default: "cuda" },
        mc: { type: "string", default: "64" },
        rounds: { type: "string", default: "3" },
        batch: { type: "string", default: "8" },
      },
    });
  } catch {
    parsed = null;
  }
  const numbers = parsed ? [parsed.values.mc, parsed.values.rounds, parsed.values.batch].map(Number) : [];
  if (
    !parsed || parsed.positionals.length !== dirNames.length ||
    !["cuda", "cpu"].includes(parsed.values.device) ||
    numbers.some((n) => !Number.isInteger(n) || n < 1)
  ) {
    console.error(usage);
    Deno.exit(2);
  }
  const [mc, rounds, batch] = numbers;
  return { dirs: parsed.positionals, device: parsed.values.device as "cuda" | "cpu", mc, rounds, batch };
}

/**
 * How far `got` is from `want` on `pairs`: the largest log-prob difference a continuation token, how
 * many greedy flags differ (a flag flips only where two logits are within rounding, so it is
 * reported, not failed), a line saying so, and whether the difference is within tolerance.
 */
export function agreement(
  pairs: readonly TokenPair[],
  want: readonly LoglikelihoodResponse[],
  got: readonly LoglikelihoodResponse[],
): { ok: boolean; line: string } {
  let worst = 0;
  let flags = 0;
  pairs.forEach((pair, i) => {
    worst = Math.max(worst, Math.abs(want[i].logprob - got[i].logprob) / pair.continuation.length);
    if (want[i].isGreedy !== got[i].isGreedy) flags++;
  });
  const ok = worst <= TOLERANCE;
  return {
    ok,
    line: `${ok ? "ok  " : "FAIL"} max |Δ log-prob| a token ${
      worst.toExponential(2)
    }, greedy flags differing ${flags}`,
  };
}
