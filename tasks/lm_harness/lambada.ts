/**
 * LAMBADA, OpenAI's version (lm-eval `lambada/lambada_openai.yaml`, version 1): the passage
 * without its last word is the context, `" " + last word` the continuation (words split on single
 * spaces, as Python's `split(' ')`). `acc` is whether greedy decoding reproduces the whole word;
 * `perplexity` is exp(−mean loglikelihood). Test split; shots also from test, as lm-eval has no
 * other split configured.
 *
 * @module
 */

import type { LoglikelihoodResponse } from "../../core/requests.ts";
import type { RowFields } from "../data/rows.ts";
import type { Task } from "../../core/tasks.ts";
import { checkTaskData, datasetConfig, type HarnessDataset, loadTaskDocs } from "./_dataset.ts";
import { buildContext, DEFAULT_FORMAT } from "./_prompt.ts";
import { createSampler } from "./_sampler.ts";

/** A LAMBADA row. */
export interface LambadaDoc {
  text: string;
}

/** Checks a LAMBADA row. */
export function parseLambada(f: RowFields): LambadaDoc {
  return { ...f.row, text: f.string("text") };
}

/** `doc_to_text`: every word but the last. */
export function lambadaContext(d: LambadaDoc): string {
  return d.text.split(" ").slice(0, -1).join(" ");
}

/** `doc_to_target`: the last word with its leading space. */
export function lambadaTarget(d: LambadaDoc): string {
  const words = d.text.split(" ");
  return " " + words[words.length - 1];
}

const dataset: HarnessDataset = {
  path: "EleutherAI/lambada_openai",
  name: "default",
  split: "test",
  fewshotSplit: "test",
  excludeEvalDoc: false,
  files: { test: [{ path: "data/lambada_test.jsonl", format: "jsonl" }] },
};

/** `lambada_openai`. Headline `acc` (lm-eval lists `perplexity` first). */
export const lambadaOpenai: Task<LambadaDoc> = {
  name: "lambada_openai",
  version: 1,
  defaultFewshot: 0,
  metrics: {
    acc: { aggregation: "mean", higherIsBetter: true },
    perplexity: { aggregation: "perplexity", higherIsBetter: false },
  },
  config(ctx) {
    return {
      task: "lambada_openai",
      ...datasetConfig(dataset),
      output_type: "loglikelihood",
      doc_to_text: "{{text.split(' ')[:-1]|join(' ')}}",
      doc_to_target: "{{' '+text.split(' ')[-1]}}",
      target_delimiter: DEFAULT_FORMAT.targetDelimiter,
      fewshot_delimiter: DEFAULT_FORMAT.fewshotDelimiter,
      fewshot_seed: ctx.seed,
      metric_list: [
        { metric: "perplexity", aggregation: "perplexity", higher_is_better: false },
        { metric: "acc", aggregation: "mean", higher_is_better: true },
      ],
    };
  },
  check(ctx) {
    return checkTaskData(dataset, "lambada_openai", ctx, ctx.numFewshot ?? 0);
  },
  async prepare(ctx) {
    const numFewshot = ctx.numFewshot ?? 0;
    const { docs, pool } = await loadTaskDocs(dataset, parseLambada, "lambada_openai", ctx, numFewshot);
    const sampler = createSampler("default", pool, {
      seed: ctx.seed,
      excludeEvalDoc: dataset.excludeEvalDoc,
      poolName: "lambada_openai's test split",
    });
    return docs.map((doc, docId) => {
      const shots = numFewshot > 0 ? sampler.sample(numFewshot, doc) : [];
      const context = buildContext(
        DEFAULT_FORMAT,
        shots.map((s) => ({ q: lambadaContext(s), a: lambadaTarget(s) })),
        lambadaContext(doc),
        ctx.prompting,
      );
      // A plain loglikelihood task: lm-eval keeps the continuation as the target, chat or not.
      const continuation = lambadaTarget(doc);
      return {
        doc,
        docId,
        requests: [{ kind: "loglikelihood", context, continuation }],
        target: continuation,
      };
    });
  },
  score(_prepared, responses) {
    const r = responses[0] as LoglikelihoodResponse;
    return { acc: r.isGreedy ? 1 : 0, perplexity: r.logprob };
  },
};
