/**
 * Builds an lm-eval `multiple_choice` task from a spec: one `loglikelihood` request per choice,
 * `(context, target_delimiter + choice)`, scored as lm-eval's `process_results` does:
 *
 * - `acc`: argmax of the loglikelihoods is the gold index;
 * - `acc_norm`: argmax of loglikelihood / length of the choice in characters (code points,
 *   Python's `len`, without the delimiter).
 *
 * A spec with `multipleInput` (Winogrande) inverts this: each choice is a context and the
 * continuation is shared; `docToText` then gives the gold index, as in lm-eval.
 *
 * @module
 */

import type { LoglikelihoodRequest, LoglikelihoodResponse } from "../../core/requests.ts";
import { pyLen } from "../../core/python_text.ts";
import type { RowFields } from "../data/rows.ts";
import type { MetricSpec, Prepared, SampleValue, Task } from "../../core/tasks.ts";
import { checkTaskData, datasetConfig, type HarnessDataset, loadTaskDocs } from "./_dataset.ts";
import {
  buildContext,
  continuationDelimiter,
  DEFAULT_FORMAT,
  type PromptFormat,
  type Shot,
} from "./_prompt.ts";
import { PLAIN, type Prompting } from "../../core/prompting.ts";
import { createSampler, type SamplerKind } from "./_sampler.ts";

/** Metrics a multiple-choice task can report. */
export type ChoiceMetric = "acc" | "acc_norm";

/** What a multiple-choice task is, in lm-eval's terms. */
export interface MultipleChoiceSpec<Doc> {
  /** Task name (lm-eval's `task`). */
  name: string;
  /** lm-eval's `metadata.version`. */
  version: number;
  /** Dataset, splits and files. */
  dataset: HarnessDataset;
  /** A row as a doc: its fields checked, and lm-eval's `process_docs` applied if the task has one. */
  parse(fields: RowFields): Doc;
  /** The question (`doc_to_text`); with `multipleInput`, the gold index. */
  docToText(doc: Doc): string | number;
  /** The choices (`doc_to_choice`); with `multipleInput`, one context per choice. */
  docToChoices(doc: Doc): string[];
  /** The gold index or gold choice text (`doc_to_target`); with `multipleInput`, the shared continuation. */
  docToTarget(doc: Doc): number | string;
  /** Each choice makes its own context and the target is the continuation (lm-eval's multiple-input mode). */
  multipleInput?: boolean;
  /** Text before the prompt. @default {""} */
  description?: string;
  /** @default {" "} */
  targetDelimiter?: string;
  /** @default {"\n\n"} */
  fewshotDelimiter?: string;
  /** @default {"default"} */
  sampler?: SamplerKind;
  /** Metrics, in lm-eval's `metric_list` order; the first is the headline. */
  metrics: readonly ChoiceMetric[];
  /** lm-eval's template fields, recorded verbatim in the configuration. */
  templates: { doc_to_text: string; doc_to_choice: string; doc_to_target: string };
}

const METRIC: MetricSpec = { aggregation: "mean", higherIsBetter: true };

/** Builds the task. */
export function multipleChoiceTask<Doc>(spec: MultipleChoiceSpec<Doc>): Task<Doc> {
  const format: PromptFormat = {
    description: spec.description ?? DEFAULT_FORMAT.description,
    targetDelimiter: spec.targetDelimiter ?? DEFAULT_FORMAT.targetDelimiter,
    fewshotDelimiter: spec.fewshotDelimiter ?? DEFAULT_FORMAT.fewshotDelimiter,
  };
  const prompt = promptBuilder(spec, format);
  return {
    name: spec.name,
    version: spec.version,
    defaultFewshot: 0,
    metrics: Object.fromEntries(spec.metrics.map((m) => [m, METRIC])),
    config(ctx) {
      return {
        task: spec.name,
        ...datasetConfig(spec.dataset),
        output_type: "multiple_choice",
        ...spec.templates,
        ...(spec.description ? { description: spec.description } : {}),
        target_delimiter: format.targetDelimiter,
        fewshot_delimiter: format.fewshotDelimiter,
        fewshot_config: { sampler: spec.sampler ?? "default" },
        fewshot_seed: ctx.seed,
        metric_list: spec.metrics.map((metric) => ({ metric, aggregation: "mean", higher_is_better: true })),
      };
    },
    check(ctx) {
      return checkTaskData(spec.dataset, spec.name, ctx, ctx.numFewshot ?? 0);
    },
    async prepare(ctx) {
      const numFewshot = ctx.numFewshot ?? 0;
      const { docs, pool } = await loadTaskDocs(spec.dataset, spec.parse, spec.name, ctx, numFewshot);
      const sampler = createSampler(spec.sampler ?? "default", pool, {
        seed: ctx.seed,
        excludeEvalDoc: spec.dataset.excludeEvalDoc,
        poolName: `${spec.name}'s ${spec.dataset.fewshotSplit} split`,
      });
      const prompting = ctx.prompting ?? PLAIN;
      return docs.map((doc, docId) =>
        prompt(doc, docId, numFewshot > 0 ? sampler.sample(numFewshot, doc) : [], prompting)
      );
    },
    score(prepared, responses) {
      return scoreChoices(
        choicesAndGold(spec, prepared.doc),
        responses as readonly LoglikelihoodResponse[],
        spec.metrics,
      );
    },
  };
}

/** Makes a doc's requests from the doc and its shots. */
function promptBuilder<Doc>(spec: MultipleChoiceSpec<Doc>, format: PromptFormat) {
  const shotOf = (doc: Doc): Shot => {
    const { choices, gold } = choicesAndGold(spec, doc);
    const target = spec.docToTarget(doc);
    // A shot shows its question (with multiple inputs: the gold context) and then the gold answer.
    if (spec.multipleInput) return { q: choices[gold], a: String(target) };
    return { q: String(spec.docToText(doc)), a: typeof target === "number" ? choices[target] : target };
  };
  return (doc: Doc, docId: number, shots: readonly Doc[], prompting: Prompting): Prepared<Doc> => {
    const { choices } = choicesAndGold(spec, doc);
    const target = String(spec.docToTarget(doc));
    const fewshot = shots.map(shotOf);
    const delimiter = continuationDelimiter(format, prompting);
    if (spec.multipleInput) {
      const requests: LoglikelihoodRequest[] = choices.map((c) => ({
        kind: "loglikelihood",
        context: buildContext(format, fewshot, c, prompting),
        continuation: delimiter + target,
      }));
      return { doc, docId, requests, target };
    }
    // One context for all choices: rendering a chat template per choice would only repeat it.
    const context = buildContext(format, fewshot, String(spec.docToText(doc)), prompting);
    const requests: LoglikelihoodRequest[] = choices.map((c) => ({
      kind: "loglikelihood",
      context,
      continuation: delimiter + c,
    }));
    return { doc, docId, requests, target };
  };
}

/** A doc's choices (contexts, with `multipleInput`) and gold index. */
export interface ChoicesAndGold {
  choices: string[];
  /** Gold index, or −100 when the target is not among the choices (it then scores 0, as in lm-eval). */
  gold: number;
}

/** The choices and gold index of a doc, as lm-eval's `process_results` derives them. */
export function choicesAndGold<Doc>(spec: MultipleChoiceSpec<Doc>, doc: Doc): ChoicesAndGold {
  const choices = spec.docToChoices(doc);
  return {
    choices,
    gold: goldIndex(spec.multipleInput ? spec.docToText(doc) : spec.docToTarget(doc), choices),
  };
}

/** lm-eval's gold: an index if in range, a choice's text looked up, else −100. */
function goldIndex(target: number | string, choices: readonly string[]): number {
  if (typeof target === "number") return target < choices.length ? target : -100;
  const i = choices.indexOf(target);
  return i >= 0 ? i : -100;
}

/** Per-doc `acc` / `acc_norm` from the loglikelihood of each choice. */
export function scoreChoices(
  { choices, gold }: ChoicesAndGold,
  responses: readonly LoglikelihoodResponse[],
  metrics: readonly ChoiceMetric[],
): Record<string, SampleValue> {
  const lls = responses.map((r) => r.logprob);
  const out: Record<string, SampleValue> = {};
  for (const metric of metrics) {
    const scores = metric === "acc" ? lls : lls.map((ll, i) => ll / pyLen(choices[i]));
    out[metric] = argmax(scores) === gold ? 1 : 0;
  }
  return out;
}

/** numpy's argmax: the first maximum, and a NaN counts as the maximum. */
export function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 0; i < xs.length; i++) {
    if (Number.isNaN(xs[i])) return i;
    if (xs[i] > xs[best]) best = i;
  }
  return best;
}
