/**
 * RULER's QA (`scripts/data/synthetic/qa.py`): a question with its gold documents hidden among
 * distractor documents, numbered "Document i:". Sample i asks question i of the dataset, in file
 * order.
 *
 * - qa_1: SQuAD v2 dev, answerable questions only; distractors are first the other paragraphs of
 *   the same article, then any paragraph.
 * - qa_2: HotpotQA dev (distractor setting); each question brings its ten paragraphs.
 *
 * ```
 * template("Document 1:\n…\n\nDocument 2:\n…", question) + " Answer:"
 * ```
 *
 * Units are documents.
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";
import type { Rng } from "../../core/random.ts";
import { loadSplit, type SplitSource } from "../data/datasets.ts";
import { RowFields } from "../data/rows.ts";
import type { TaskContext } from "../../core/tasks.ts";
import { fill, sample, sampleRng, shuffled } from "./_draw.ts";
import type { Generated, LengthGenerator, RulerSpec } from "./_task.ts";

/** RULER's QA template, without the answer prefix. */
export const QA_TEMPLATE =
  "Answer the question based on the given documents. Only give me the answer and do not output any other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the given documents. Only give me the answer and do not output any other words.\n\nQuestion: {query}";

/** RULER's QA answer prefix. */
export const QA_ANSWER_PREFIX = " Answer:";

/** RULER's document header. */
export const DOCUMENT_PROMPT = "Document {i}:\n{document}";

/** Tokens RULER lets the model generate for QA. */
export const QA_TOKENS = 32;

/** One question: its answers, its gold documents and (SQuAD) its article's other paragraphs. */
export interface QaItem {
  query: string;
  outputs: string[];
  context: number[];
  more: number[];
}

/** A QA dataset as RULER reads it: questions, and the distinct documents, sorted. */
export interface QaSet {
  qas: QaItem[];
  docs: string[];
}

/** The datasets RULER's QA uses. */
export type QaDataset = "squad" | "hotpotqa";

/**
 * Where each dataset is read from. SQuAD v2 dev is the hub's parquet conversion; HotpotQA is
 * `hotpot_dev_distractor_v1.json`, at the mirror and commit RULER's download script falls back to.
 */
export const QA_SOURCES: Readonly<Record<QaDataset, SplitSource>> = {
  squad: {
    repo: "rajpurkar/squad_v2",
    revision: "main",
    split: "validation",
    files: [{ path: "squad_v2/validation-00000-of-00001.parquet", format: "parquet" }],
  },
  hotpotqa: {
    repo: "namlh2004/hotpotqa",
    revision: "7e54db4656209750ff487f6fdf8e39a66dba136b",
    split: "dev (distractor)",
    files: [{ path: "hotpot_dev_distractor_v1.json", format: "json" }],
  },
};

function indexDocs(all: string[]): { docs: string[]; id: Map<string, number> } {
  const docs = [...new Set(all)].sort();
  return { docs, id: new Map(docs.map((d, i) => [d, i])) };
}

/**
 * RULER's `read_squad` over the hub's rows (one per question, in file order): unanswerable
 * questions (no answers) are dropped; an article's paragraphs are the rows sharing its title.
 */
export function readSquad(rows: readonly RowFields[]): QaSet {
  const parsed = rows.map((f) => ({
    title: f.string("title"),
    context: f.string("context"),
    question: f.string("question"),
    answers: f.strings("answers.text"),
  }));
  const { docs, id } = indexDocs(parsed.map((r) => r.context));
  const paragraphs = new Map<string, number[]>();
  for (const r of parsed) {
    const list = paragraphs.get(r.title) ?? [];
    const doc = id.get(r.context)!;
    if (!list.includes(doc)) list.push(doc);
    paragraphs.set(r.title, list);
  }
  const qas = parsed.filter((r) => r.answers.length > 0).map((r) => {
    const own = id.get(r.context)!;
    return {
      query: r.question,
      outputs: r.answers,
      context: [own],
      more: paragraphs.get(r.title)!.filter((d) => d !== own),
    };
  });
  return { qas, docs };
}

/**
 * RULER's `read_hotpotqa`: documents are `title\nsentences joined`. Rows may hold the context as
 * the original JSON's `[[title, [sentences]]]` or as the hub's `{title: [], sentences: [[]]}`.
 */
export function readHotpot(rows: readonly RowFields[]): QaSet {
  const parsed = rows.map((f) => ({
    question: f.string("question"),
    answer: f.string("answer"),
    docs: hotpotDocs(f),
  }));
  const { docs, id } = indexDocs(parsed.flatMap((r) => r.docs));
  const qas = parsed.map((r) => ({
    query: r.question,
    outputs: [r.answer],
    context: r.docs.map((d) => id.get(d)!),
    more: [],
  }));
  return { qas, docs };
}

function hotpotDocs(f: RowFields): string[] {
  const context = f.value("context");
  if (Array.isArray(context)) {
    return context.map((pair) => {
      if (!Array.isArray(pair) || typeof pair[0] !== "string" || !Array.isArray(pair[1])) {
        return f.fail("context", "a list of [title, [sentences]]", pair);
      }
      return `${pair[0]}\n${(pair[1] as unknown[]).map(String).join("")}`;
    });
  }
  const titles = f.strings("context.title");
  const sentences = f.value("context.sentences");
  if (!Array.isArray(sentences) || sentences.length !== titles.length) {
    return f.fail("context.sentences", `a list of ${titles.length} lists of sentences`, sentences);
  }
  return titles.map((t, i) => `${t}\n${(sentences[i] as unknown[]).map(String).join("")}`);
}

/** RULER's `generate_input_output`: question `index` among `numDocs` documents. */
export function qaSample(set: QaSet, index: number, numDocs: number, rng: Rng): Generated {
  const item = set.qas[index];
  let chosen: number[];
  if (numDocs < set.docs.length) {
    if (numDocs - item.context.length > item.more.length) {
      const taken = new Set([...item.context, ...item.more]);
      const others = set.docs.map((_, i) => i).filter((i) => !taken.has(i));
      const extra = Math.max(0, numDocs - item.context.length - item.more.length);
      chosen = [...item.context, ...item.more, ...sample(rng, others, extra)];
    } else {
      chosen = [...item.context, ...sample(rng, item.more, numDocs - item.context.length)];
    }
  } else {
    chosen = Array.from({ length: numDocs }, (_, i) => i % set.docs.length);
  }
  const docs = shuffled(rng, chosen.map((i) => set.docs[i]));
  const context = docs.map((document, i) => fill(DOCUMENT_PROMPT, { i: i + 1, document })).join("\n\n");
  return {
    input: fill(QA_TEMPLATE + QA_ANSWER_PREFIX, { context, query: item.query }),
    outputs: item.outputs,
  };
}

/** Loads a QA dataset through the dataset layer (--data-dir, caches, or a download). */
export async function loadQa(dataset: QaDataset, ctx: TaskContext, task: string): Promise<QaSet> {
  const loaded = await loadSplit(QA_SOURCES[dataset], { task, ctx });
  const rows = loaded.rows.map((row, i) => new RowFields(row, loaded.where, i));
  const set = dataset === "squad" ? readSquad(rows) : readHotpot(rows);
  if (set.qas.length === 0) {
    throw new UserError(`Cannot build ${task} as ${loaded.where} has no answerable questions`);
  }
  return set;
}

/** The spec of RULER's `qa_1` / `qa_2`. */
export function qaSpec(name: string, dataset: QaDataset): RulerSpec {
  return {
    name,
    version: 1,
    tokensToGenerate: QA_TOKENS,
    metric: "string_match_part",
    config() {
      const source = QA_SOURCES[dataset];
      return {
        generator: "qa",
        template: QA_TEMPLATE,
        answer_prefix: QA_ANSWER_PREFIX,
        document_prompt: DOCUMENT_PROMPT,
        dataset,
        dataset_path: source.repo,
        dataset_revision: source.revision,
        dataset_file: source.files[0].path,
      };
    },
    async setup(ctx: TaskContext) {
      const set = await loadQa(dataset, ctx, name);
      return (length: number): LengthGenerator => ({
        minUnits: (index) => set.qas[index].context.length,
        available: set.qas.length,
        build: (n, index) => qaSample(set, index, n, sampleRng(name, length, ctx.seed, index)),
      });
    },
  };
}
