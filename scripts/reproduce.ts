/**
 * Entry point of `deno task reproduce RUN_ID [--db PATH]`: exit 0 when every sample came out as
 * recorded, 1 when not, 2 when the run cannot be reproduced (a changed model or data file).
 *
 * @module
 */

import { describeDiff, parseReproduceArgs, reproduce, REPRODUCE_HELP } from "../evals/reproduce.ts";
import { runMain } from "./_main.ts";

/** Differences listed before the rest are counted. */
const SHOWN = 5;

await runMain(async () => {
  const args = parseReproduceArgs(Deno.args);
  if (args.help) {
    console.log(REPRODUCE_HELP);
    return;
  }
  const { samples, diffs } = await reproduce(args.runId, args.db);
  if (diffs.length === 0) {
    console.log(`run ${args.runId} reproduced: all ${samples} samples identical (outputs and metrics)`);
    return;
  }
  console.log(`run ${args.runId} did not reproduce: ${diffs.length} of ${samples} samples differ`);
  for (const d of diffs.slice(0, SHOWN)) console.log(`  ${describeDiff(d)}`);
  if (diffs.length > SHOWN) console.log(`  … and ${diffs.length - SHOWN} more`);
  Deno.exit(1);
});
