/**
 * The lm-evaluation-harness tasks, prompt for prompt as lm-eval builds them.
 *
 * Files each task reads, as `<repo>/<path in the repo>` (put them under --data-dir with that
 * layout, or let kvbench download them at revision `main` into `$KVBENCH_DATA`):
 *
 * ```
 * arc_easy        allenai/ai2_arc/ARC-Easy/{test,train}-00000-of-00001.parquet
 * arc_challenge   allenai/ai2_arc/ARC-Challenge/{test,train}-00000-of-00001.parquet
 * hellaswag       Rowan/hellaswag/data/{validation,train}-00000-of-00001.parquet
 * piqa            baber/piqa/piqa_{validation,train}.parquet
 * winogrande      allenai/winogrande/winogrande_xl/{validation,train}-00000-of-00001.parquet
 * openbookqa      allenai/openbookqa/main/{test,train}-00000-of-00001.parquet
 * boolq           aps/super_glue/boolq/{validation,train}-00000-of-00001.parquet
 * lambada_openai  EleutherAI/lambada_openai/data/lambada_test.jsonl
 * race            EleutherAI/race/race_high_test.jsonl
 * sciq            allenai/sciq/data/{test,train}-00000-of-00001.parquet
 * pubmedqa        bigbio/pubmed_qa/pqal.zip  (members pqal_test_set.json, pqal_fold0/train_set.json)
 * wikitext        EleutherAI/wikitext_document_level/wikitext-2-raw-v1/wikitext-2-raw-v1-test.parquet
 * mmlu_<subject>  cais/mmlu/<subject>/{test,dev}-00000-of-00001.parquet
 * ```
 *
 * The train/dev files are read only when few-shot examples are asked for.
 *
 * @module
 */

import type { Task } from "../../core/tasks.ts";
import { arcChallenge, arcEasy } from "./arc.ts";
import { boolq } from "./boolq.ts";
import { hellaswag } from "./hellaswag.ts";
import { lambadaOpenai } from "./lambada.ts";
import { MMLU_TASKS } from "./mmlu.ts";
import { openbookqa } from "./openbookqa.ts";
import { piqa } from "./piqa.ts";
import { pubmedqa } from "./pubmedqa.ts";
import { race } from "./race.ts";
import { sciq } from "./sciq.ts";
import { wikitext } from "./wikitext.ts";
import { winogrande } from "./winogrande.ts";

export { MMLU_GROUPS, MMLU_SUBJECTS } from "./mmlu.ts";

/** Every harness task by name. */
export const LM_HARNESS_TASKS: Readonly<Record<string, Task>> = {
  arc_easy: arcEasy as Task,
  arc_challenge: arcChallenge as Task,
  hellaswag: hellaswag as Task,
  piqa: piqa as Task,
  winogrande: winogrande as Task,
  openbookqa: openbookqa as Task,
  boolq: boolq as Task,
  lambada_openai: lambadaOpenai as Task,
  race: race as Task,
  sciq: sciq as Task,
  pubmedqa: pubmedqa as Task,
  wikitext: wikitext as Task,
  ...MMLU_TASKS,
};
