/**
 * Prints the requests kvbench builds for tasks, as JSON, without a model: what a cross-check
 * against lm-eval (scripts/check_against_lm_eval.py) compares.
 *
 *   deno run -A scripts/dump_requests.ts --tasks arc_easy,piqa --data-dir DIR
 *                                        [--num-fewshot N] [--seed 1234] [--limit N] [--responses FILE]
 *
 * Output: `{ "<task>": [{ "docId": n, "requests": [...] }, …], … }`, reading data from DIR only.
 * With `--responses FILE` (`{ "<task>": [[response, …] per doc], … }` in request order) each doc
 * also gets the `metrics` the task scores from those responses.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { AnyResponse } from "../core/requests.ts";
import { UserError } from "../core/errors.ts";
import { syntheticOptions } from "../core/tasks.ts";
import { resolveTasks } from "../tasks/registry.ts";
import { runMain } from "./_main.ts";

await runMain(async () => {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      tasks: { type: "string" },
      "data-dir": { type: "string" },
      "num-fewshot": { type: "string" },
      seed: { type: "string", default: "1234" },
      limit: { type: "string" },
      responses: { type: "string" },
    },
    strict: true,
  });
  if (!values.tasks || !values["data-dir"]) {
    throw new UserError("Cannot dump requests without --tasks and --data-dir");
  }
  const { tasks } = resolveTasks(values.tasks);
  const responses: Record<string, AnyResponse[][]> = values.responses
    ? JSON.parse(readFileSync(values.responses, "utf8"))
    : {};
  const out: Record<string, unknown> = {};
  for (const task of tasks) {
    const prepared = await task.prepare({
      numFewshot: values["num-fewshot"] === undefined ? null : Number(values["num-fewshot"]),
      seed: Number(values.seed),
      limit: values.limit === undefined ? null : Number(values.limit),
      vocabSize: 32000,
      maxLength: 2048,
      ...syntheticOptions(),
      dataDir: values["data-dir"],
      download: false,
    });
    out[task.name] = prepared.map((p, i) => ({
      docId: p.docId,
      requests: p.requests,
      ...(responses[task.name] ? { metrics: task.score(p, responses[task.name][i]) } : {}),
    }));
  }
  console.log(JSON.stringify(out));
});
