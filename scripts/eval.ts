/**
 * Entry point of `deno task eval`.
 *
 * @module
 */

import { evalHelp, parseEvalArgs, runEval } from "../evals/cli.ts";
import { runMain } from "./_main.ts";

await runMain(async () => {
  const args = parseEvalArgs(Deno.args);
  if (args.help) {
    console.log(evalHelp());
    return;
  }
  await runEval(args);
});
