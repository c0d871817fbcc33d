/**
 * Entry point of `deno task eval`.
 *
 * @module
 */

import { evalHelp, LIST_TASKS, parseEvalArgs, runEval } from "../evals/cli.ts";
import { runOnDevices } from "../evals/devices.ts";
import { ort } from "../evals/model/ort/api.ts";
import { versionText } from "../evals/version.ts";
import { renderTaskList } from "../tasks/catalog.ts";
import { runMain } from "./_main.ts";

await runMain(async () => {
  const args = parseEvalArgs(Deno.args);
  if (args.help) {
    console.log(evalHelp());
    return;
  }
  if (args.version) {
    console.log(versionText(() => ort().version));
    return;
  }
  if (args.tasks === LIST_TASKS) {
    console.log(renderTaskList());
    return;
  }
  if (args.devices) await runOnDevices(args, Deno.args);
  else await runEval(args);
});
