/**
 * Entry point of `deno task eval`.
 *
 * @module
 */

import { evalHelp, parseEvalArgs, runEval } from "../evals/cli.ts";
import { runOnDevices } from "../evals/devices.ts";
import { runMain } from "./_main.ts";

await runMain(async () => {
  const args = parseEvalArgs(Deno.args);
  if (args.help) {
    console.log(evalHelp());
    return;
  }
  if (args.devices) await runOnDevices(args, Deno.args);
  else await runEval(args);
});
