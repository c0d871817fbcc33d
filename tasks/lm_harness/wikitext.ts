/**
 * WikiText-2 document-level perplexity (lm-eval `wikitext/wikitext.yaml` +
 * `preprocess_wikitext.py`, version 2): each page, detokenized, is one `loglikelihood_rolling`
 * request. Words and bytes are counted on the original page, not the detokenized text:
 *
 * - `word_perplexity` = exp(−Σ loglikelihood / Σ words), words = `len(re.split(r"\s+", page))`;
 * - `byte_perplexity` = exp(−Σ loglikelihood / Σ bytes), bytes = UTF-8 length of the page;
 * - `bits_per_byte`   = −Σ loglikelihood / Σ bytes / ln 2.
 *
 * @module
 */

import type { RollingResponse } from "../../core/requests.ts";
import { PY_WHITESPACE, pySplitWhitespace } from "../../core/python_text.ts";
import type { RowFields } from "../data/rows.ts";
import type { Task } from "../../core/tasks.ts";
import { checkTaskData, datasetConfig, type HarnessDataset, loadTaskDocs } from "./_dataset.ts";

/** A WikiText page. */
export interface WikitextDoc {
  page: string;
}

/** Checks a WikiText row. */
export function parseWikitext(f: RowFields): WikitextDoc {
  return { ...f.row, page: f.string("page") };
}

const WS = `[${PY_WHITESPACE}]`;
// Python's `\s` in these patterns is Unicode whitespace; JS's differs (see python_text.ts).
const PARENS = new RegExp(`\\(${WS}*([^)]*?)${WS}*\\)`, "g");
const BRACKETS = new RegExp(`\\[${WS}*([^\\]]*?)${WS}*\\]`, "g");
const BRACES = new RegExp(`\\{${WS}*([^}]*?)${WS}*\\}`, "g");
const DOUBLE_QUOTES = new RegExp(`"${WS}*([^"]*?)${WS}*"`, "g");
const SINGLE_QUOTES = new RegExp(`'${WS}*([^']*?)${WS}*'`, "g");

/** lm-eval's `wikitext_detokenizer`, step for step (its odd `/' [0-9]/` pattern included). */
export function wikitextDetokenize(page: string): string {
  let s = page;
  s = s.replaceAll("s '", "s'");
  s = s.replace(/\/' [0-9]\//g, "/'[0-9]/");
  s = s.replaceAll(" @-@ ", "-").replaceAll(" @,@ ", ",").replaceAll(" @.@ ", ".");
  s = s.replaceAll(" : ", ": ").replaceAll(" ; ", "; ").replaceAll(" . ", ". ").replaceAll(" ! ", "! ");
  s = s.replaceAll(" ? ", "? ").replaceAll(" , ", ", ");
  s = s.replace(PARENS, "($1)").replace(BRACKETS, "[$1]").replace(BRACES, "{$1}");
  s = s.replace(DOUBLE_QUOTES, '"$1"').replace(SINGLE_QUOTES, "'$1'");
  s = s.replaceAll("= = = =", "====").replaceAll("= = =", "===").replaceAll("= =", "==");
  s = s.replaceAll(" \u00b0 ", "\u00b0").replaceAll(" \n", "\n").replaceAll("\n ", "\n");
  s = s.replaceAll(" N ", " 1 ").replaceAll(" 's", "'s");
  return s;
}

/** Words of the original page, as lm-eval counts them. */
export function wikitextWords(page: string): number {
  return pySplitWhitespace(page).length;
}

/** UTF-8 bytes of the original page. */
export function wikitextBytes(page: string): number {
  return new TextEncoder().encode(page).length;
}

const dataset: HarnessDataset = {
  path: "EleutherAI/wikitext_document_level",
  name: "wikitext-2-raw-v1",
  split: "test",
  fewshotSplit: "train",
  excludeEvalDoc: false,
  files: { test: [{ path: "wikitext-2-raw-v1/wikitext-2-raw-v1-test.parquet", format: "parquet" }] },
};

/** `wikitext`. Rolling loglikelihood ignores few-shot examples, so none are drawn. */
export const wikitext: Task<WikitextDoc> = {
  name: "wikitext",
  version: 2,
  defaultFewshot: 0,
  metrics: {
    word_perplexity: { aggregation: "weighted_perplexity", higherIsBetter: false },
    byte_perplexity: { aggregation: "weighted_perplexity", higherIsBetter: false },
    bits_per_byte: { aggregation: "bits_per_byte", higherIsBetter: false },
  },
  config() {
    return {
      task: "wikitext",
      ...datasetConfig(dataset),
      output_type: "loglikelihood_rolling",
      doc_to_text: "",
      doc_to_target: "!function preprocess_wikitext.wikitext_detokenizer",
      process_results: "!function preprocess_wikitext.process_results",
      metric_list: [{ metric: "word_perplexity" }, { metric: "byte_perplexity" }, {
        metric: "bits_per_byte",
      }],
    };
  },
  check(ctx) {
    return checkTaskData(dataset, "wikitext", ctx, 0);
  },
  async prepare(ctx) {
    const { docs } = await loadTaskDocs(dataset, parseWikitext, "wikitext", ctx, 0);
    return docs.map((doc, docId) => {
      const text = wikitextDetokenize(doc.page);
      return { doc, docId, requests: [{ kind: "loglikelihood_rolling", text }], target: text };
    });
  },
  score(prepared, responses) {
    const ll = (responses[0] as RollingResponse).logprob;
    const bytes = wikitextBytes(prepared.doc.page);
    return {
      word_perplexity: [ll, wikitextWords(prepared.doc.page)],
      byte_perplexity: [ll, bytes],
      bits_per_byte: [ll, bytes],
    };
  },
};
