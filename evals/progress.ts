/**
 * A progress bar with ETA on stderr (cli-progress), silent when stderr is not a terminal.
 *
 * @module
 */

import cliProgress from "cli-progress";
import process from "node:process";

/** A progress reporter. */
export interface Progress {
  /** Advances by `n` units. */
  tick(n: number): void;
  /** Ends the bar. */
  stop(): void;
}

/** Starts a bar of `total` units labelled `label`. */
export function startProgress(
  label: string,
  total: number,
  enabled = process.stderr.isTTY === true,
): Progress {
  if (!enabled || total === 0) return { tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {duration_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0);
  return {
    tick: (n) => bar.increment(n),
    stop: () => bar.stop(),
  };
}
