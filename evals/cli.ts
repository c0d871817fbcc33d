/**
 * The `eval` command: flags declared once, validated together, then one evaluation per model.
 *
 * @module
 */

import { DB_FLAG, DEVICE_FLAG, flagLines, type FlagTable, parseOptions, TF32_FLAG } from "./flags.ts";
import { checkCachePolicy } from "./model/cache_policy.ts";
import { parseArgs } from "node:util";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ort } from "./model/ort/api.ts";
import { writeLmEvalOutput } from "../results/lm_eval_json.ts";
import { buildLeaderboard, renderLeaderboard } from "../results/report.ts";
import { writeHtmlReport } from "../results/html/output.ts";
import { DEFAULT_DB, Store } from "../results/store.ts";
import { resolveTasks, type Selection } from "../tasks/registry.ts";
import { UserError } from "../core/errors.ts";
import type { SyntheticOptions } from "../core/tasks.ts";
import {
  DEFAULT_COMMIT_EVERY,
  DEFAULT_PREFILL_CHUNK,
  evaluate,
  type EvaluateOptions,
  taskContext,
} from "./evaluate.ts";
import { loadBundle, type ModelBundle } from "./model/bundle.ts";
import { type Device, DEVICES } from "./model/onnx_model.ts";
import { checkModels, checkOutputPath, checkTasks } from "./preflight.ts";
import { resolveShard, type Shard } from "./shard.ts";
import { type GenKwargs, parseGenKwargs } from "./gen_kwargs.ts";
import type { BosPolicy } from "./model/tokenizer.ts";
import { kvbenchCommit } from "./version.ts";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** The batch size --batch-size auto starts from before backing off on out-of-memory errors. */
export const AUTO_BATCH_START = 64;

/** Tasks run when --tasks is not given. */
export const DEFAULT_TASKS = "mqar";

const OPTIONS = {
  model: {
    type: "string",
    help: "model directory; comma-separated for several (default: the bundled models)",
  },
  tasks: {
    type: "string",
    help: `tasks or suites, comma-separated (default: ${DEFAULT_TASKS}); list: print them all`,
  },
  "num-fewshot": { type: "string", help: "few-shot examples (default: each task's own)" },
  "apply-chat-template": {
    type: "string",
    help: "[NAME] render prompts with the model's chat template, as lm-eval (NAME: one of several)",
  },
  "fewshot-as-multiturn": {
    type: "string",
    help: "[true|false] with a chat template, each few-shot example its own turns (default: true)",
  },
  "system-instruction": { type: "string", help: "TEXT: a system turn before every prompt, as lm-eval" },
  "gen-kwargs": {
    type: "string",
    help: "max_gen_toks=N,until=S (do_sample=false, temperature=0): override generate_until tasks' settings",
  },
  "predict-only": {
    type: "boolean",
    help: "lm-eval's --predict_only: write the samples with --output-path (metrics are computed too)",
  },
  limit: {
    type: "string",
    help: "docs per task (examples per cell of a sweep), or a fraction in (0, 1) of them, as lm-eval",
  },
  "batch-size": {
    type: "string",
    help:
      "rows per forward call (shared contexts' continuations: up to 4×), or auto: start at 64, halve on " +
      "out-of-memory (default: 8)",
  },
  device: DEVICE_FLAG,
  seed: { type: "string", help: "few-shot and synthetic-data seed (default: 1234)" },
  db: DB_FLAG,
  "output-path": {
    type: "string",
    help: "also write lm-eval-style results JSON here (file.json or directory)",
  },
  "log-samples": { type: "boolean", help: "with --output-path, write samples_<task>_<date>.jsonl per task" },
  "add-bos": { type: "string", help: "auto | true | false (default: auto, from tokenizer_config.json)" },
  "max-length": { type: "string", help: "longest sequence fed to the model (default: from the model)" },
  lengths: { type: "string", help: "sequence lengths for synthetic sweeps, e.g. 64,128" },
  "kv-pairs": { type: "string", help: "key-value pair counts for MQAR, e.g. 4,8,16" },
  "prefill-chunk": {
    type: "string",
    help: "feed prompts N tokens per forward call, bounding the logits held (default: 512; 0 = whole)",
  },
  "data-dir": { type: "string", help: "dataset files: DIR/<org>/<name>/<path in the dataset repo>" },
  offline: { type: "boolean", help: "never download datasets; read --data-dir or the HF cache only" },
  "haystack-dir": { type: "string", help: "NIAH/RULER essay haystack: a folder of .txt files (name order)" },
  "words-file": {
    type: "string",
    help: "RULER word tasks and mqar_text: one word per line (default: tokenizer words)",
  },
  depths: { type: "string", help: "NIAH needle depths in percent, e.g. 0,25,50,75,100" },
  fresh: { type: "boolean", help: "recompute everything instead of reusing finished samples" },
  "no-prefix-reuse": {
    type: "boolean",
    help: "score each continuation from scratch (slower; for checks; a static cache's default)",
  },
  "cache-policy": {
    type: "string",
    help:
      "rewrite each prompt's cache after prefill: xkv:group=G,rank_k=RK,rank_v=RV[,start=S,end=E] (simulated)",
  },
  tf32: TF32_FLAG,
  "no-report": { type: "boolean", help: "don't print the leaderboard at the end" },
  "report-html": {
    type: "string",
    help: "DIR: also write this invocation's HTML report (figures and table) to DIR/index.html",
  },
  shard: {
    type: "string",
    help: "I/N: run only the I-th (from 0) of N disjoint slices of the work; combine with deno task merge",
  },
  shards: {
    type: "string",
    help: "N slices, this one's index from JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)",
  },
  devices: {
    type: "string",
    help: "GPU ids, e.g. 0,1,2,3: one shard per GPU in parallel, merged into --db (on CPU: N processes)",
  },
  version: { type: "boolean", help: "print kvbench's version and commit, and ONNX Runtime's version" },
  help: { type: "boolean", short: "h", help: "show this help" },
} as const satisfies FlagTable;

/** `--tasks list` prints every task, group and suite instead of running anything. */
export const LIST_TASKS = "list";

/** lm-eval's underscore spellings of the flags we share, so its command lines carry over. */
const LM_EVAL_ALIASES: Readonly<Record<string, keyof typeof OPTIONS>> = {
  num_fewshot: "num-fewshot",
  batch_size: "batch-size",
  output_path: "output-path",
  log_samples: "log-samples",
  max_length: "max-length",
  apply_chat_template: "apply-chat-template",
  fewshot_as_multiturn: "fewshot-as-multiturn",
  system_instruction: "system-instruction",
  gen_kwargs: "gen-kwargs",
  predict_only: "predict-only",
};

/** Values `--fewshot-as-multiturn` takes, as lm-eval reads them (`true`, `1`, `yes` are true). */
const BOOLEAN_WORDS = /^(true|false|1|0|yes|no)$/i;

/** The parsed, validated options of `eval`. */
export interface EvalArgs {
  models: string[];
  tasks: string;
  numFewshot: number | null;
  /** `--apply-chat-template`: render prompts through the tokenizer's chat template. */
  applyChatTemplate: boolean;
  /** `--apply-chat-template NAME`: which of several templates; null for lm-eval's choice. */
  chatTemplateName: string | null;
  /** With a chat template, each few-shot example its own turns (on unless `--fewshot-as-multiturn false`). */
  fewshotAsMultiturn: boolean;
  /** `--system-instruction TEXT`, or null. */
  systemInstruction: string | null;
  /** lm-eval's `--gen_kwargs` for generate_until tasks (greedy keys only), or null. */
  genKwargs: GenKwargs | null;
  /** A count, or a fraction in (0, 1) of each task's docs (lm-eval's `--limit 0.1`). */
  limit: number | null;
  batchSize: number;
  autoBatch: boolean;
  device: Device;
  seed: number;
  db: string;
  outputPath: string | null;
  logSamples: boolean;
  addBos: BosPolicy;
  maxLength: number | null;
  /** --lengths, --kv-pairs, --depths, --haystack-dir, --words-file: what synthetic tasks are built from. */
  synthetic: SyntheticOptions;
  prefillChunk: number;
  tf32: boolean;
  dataDir: string | null;
  offline: boolean;
  fresh: boolean;
  prefixReuse: boolean;
  /** `--cache-policy` (see evals/model/cache_policy.ts), or null. */
  cachePolicy: string | null;
  report: boolean;
  /** Folder for this invocation's HTML report (`--report-html`), or null. */
  reportHtml: string | null;
  /** This process's slice of the work (`--shard`, `--shards` with a scheduler's index), or null. */
  shard: Shard | null;
  /** GPUs to spread the shards of this evaluation over (`--devices`), or null. */
  devices: number[] | null;
  /** `--version`: print versions and run nothing. */
  version: boolean;
  help: boolean;
}

/** The help text of `eval`. */
export function evalHelp(): string {
  const lines = flagLines(OPTIONS);
  return [
    "Usage: deno task eval [--model DIR[,DIR…]] [--tasks a,b|suite] [options]",
    "",
    "Evaluates ONNX models on tasks and stores every sample, score and timing in DuckDB.",
    "With no --model, evaluates the bundled models on MQAR (no downloads).",
    "",
    "Options:",
    ...lines,
    "",
    `lm-eval's spellings ${Object.keys(LM_EVAL_ALIASES).map((a) => `--${a}`).join(", ")} are accepted.`,
    "",
    "Examples:",
    "  deno task eval",
    "  deno task eval --tasks list",
    "  deno task eval --model tests/fixtures/llama --tasks mqar --kv-pairs 4,8 --lengths 64 --limit 50",
  ].join("\n");
}

/** Parses and validates `eval`'s arguments, reporting every problem at once. */
export function parseEvalArgs(argv: string[]): EvalArgs {
  argv = optionalValues(lmEvalSpellings(argv));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: attachNegativeValues(argv),
      options: parseOptions(OPTIONS) as never,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UserError(`${(error as Error).message.split("\n")[0]}. Run with --help for the options`);
  }
  const errors: string[] = [];
  const int = (name: string, min: number): number | null => {
    const raw = values[name];
    if (raw === undefined) return null;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      errors.push(`--${name} must be an integer ≥ ${min} (got "${raw}")`);
      return null;
    }
    return n;
  };
  const list = (name: string, min: number): number[] | null => {
    const raw = values[name];
    if (raw === undefined) return null;
    const parts = String(raw).split(",").map((s) => Number(s.trim()));
    if (parts.length === 0 || parts.some((n) => !Number.isInteger(n) || n < min)) {
      errors.push(`--${name} must be comma-separated integers ≥ ${min} (got "${raw}")`);
      return null;
    }
    return parts;
  };
  const choice = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    if (!allowed.includes(raw as T)) {
      errors.push(`--${name} must be one of ${allowed.join(", ")} (got "${raw}")`);
      return fallback;
    }
    return raw as T;
  };
  const onOff = (name: string, fallback: boolean): boolean =>
    choice(name, ["on", "off"] as const, fallback ? "on" : "off") === "on";
  let batchSize = 8;
  const autoBatch = values["batch-size"] === "auto";
  if (autoBatch) batchSize = AUTO_BATCH_START;
  else if (values["batch-size"] !== undefined) {
    batchSize = int("batch-size", 1) ?? 8;
  }
  const models = values.model === undefined
    ? []
    : String(values.model).split(",").map((s) => s.trim()).filter(Boolean);
  // An empty --model (an unset shell variable) must not quietly mean "every bundled model".
  if (values.model !== undefined && models.length === 0) {
    errors.push(
      `--model needs a model directory (got "${values.model}"), or leave it out for the bundled models`,
    );
  }
  const chatTemplate = values["apply-chat-template"] as string | undefined;
  const multiturn = values["fewshot-as-multiturn"] as string | undefined;
  if (multiturn !== undefined && !BOOLEAN_WORDS.test(multiturn)) {
    errors.push(`--fewshot-as-multiturn must be true or false (got "${multiturn}")`);
  }
  const fewshotAsMultiturn = multiturn === undefined
    ? chatTemplate !== undefined
    : /^(true|1|yes)$/i.test(multiturn);
  // lm-eval refuses this too: without a template there are no turns to spread the examples over.
  if (fewshotAsMultiturn && chatTemplate === undefined) {
    errors.push("--fewshot-as-multiturn needs --apply-chat-template");
  }
  const parsed: EvalArgs = {
    models,
    tasks: (values.tasks as string | undefined) ?? DEFAULT_TASKS,
    numFewshot: int("num-fewshot", 0),
    applyChatTemplate: chatTemplate !== undefined,
    chatTemplateName: chatTemplate ? chatTemplate : null,
    fewshotAsMultiturn,
    systemInstruction: (values["system-instruction"] as string | undefined) ?? null,
    genKwargs: null,
    limit: limit(values.limit as string | undefined, errors),
    batchSize,
    autoBatch,
    device: choice("device", DEVICES, "cpu"),
    seed: int("seed", 0) ?? 1234,
    db: (values.db as string | undefined) ?? DEFAULT_DB,
    outputPath: (values["output-path"] as string | undefined) ?? null,
    logSamples: values["log-samples"] === true,
    addBos: choice("add-bos", ["auto", "true", "false"] as const, "auto"),
    maxLength: int("max-length", 2),
    synthetic: {
      lengths: list("lengths", 2),
      kvPairs: list("kv-pairs", 1),
      depths: list("depths", 0),
      haystackDir: (values["haystack-dir"] as string | undefined) ?? null,
      wordsFile: (values["words-file"] as string | undefined) ?? null,
    },
    prefillChunk: int("prefill-chunk", 0) ?? DEFAULT_PREFILL_CHUNK,
    dataDir: (values["data-dir"] as string | undefined) ?? null,
    offline: values.offline === true,
    fresh: values.fresh === true,
    prefixReuse: values["no-prefix-reuse"] !== true,
    cachePolicy: (values["cache-policy"] as string | undefined) ?? null,
    tf32: onOff("tf32", false),
    report: values["no-report"] !== true,
    reportHtml: (values["report-html"] as string | undefined) ?? null,
    shard: null,
    devices: list("devices", 0),
    version: values.version === true,
    help: values.help === true,
  };
  const shards = int("shards", 1);
  try {
    parsed.shard = resolveShard({ shard: values.shard as string | undefined, shards }, Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    errors.push(error.message);
  }
  if (parsed.devices && parsed.shard) {
    errors.push("--devices runs every shard itself: leave out --shard/--shards");
  }
  if (values["gen-kwargs"] !== undefined) {
    try {
      parsed.genKwargs = parseGenKwargs(String(values["gen-kwargs"]));
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      errors.push(error.message);
    }
  }
  if (parsed.cachePolicy !== null) {
    try {
      checkCachePolicy(parsed.cachePolicy);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      errors.push(error.message);
    }
  }
  // lm-eval's --predict_only implies --log_samples; kvbench keeps every output anyway.
  if (values["predict-only"] === true) parsed.logSamples = true;
  if (parsed.logSamples && !parsed.outputPath) errors.push("--log-samples needs --output-path");
  if (errors.length > 0) {
    throw new UserError(`Cannot run eval: ${errors.join("; ")}. Run with --help for the options`);
  }
  return parsed;
}

/**
 * `--limit`: a whole number of docs ≥ 1, or a fraction in (0, 1) of each task's docs (lm-eval
 * keeps `ceil(docs × limit)`). Anything else is pushed to `errors`.
 */
function limit(raw: string | undefined, errors: string[]): number | null {
  if (raw === undefined) return null;
  const n = Number(raw);
  if (raw.trim() !== "" && Number.isFinite(n) && n > 0 && (n < 1 || Number.isInteger(n))) return n;
  errors.push(
    `--limit must be a whole number of docs ≥ 1 or a fraction between 0 and 1, e.g. 0.1 (got "${raw}")`,
  );
  return null;
}

/** Rewrites lm-eval's underscore flags (`--num_fewshot 5`, `--batch_size=auto`) as ours. */
function lmEvalSpellings(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    const match = /^--([a-z_-]+)(=.*)?$/.exec(arg);
    if (!match) return arg;
    const [, name, value = ""] = match;
    return name in LM_EVAL_ALIASES ? `--${LM_EVAL_ALIASES[name]}${value}` : arg;
  });
}

/**
 * lm-eval's flags whose value may be left out (`--apply_chat_template [name]`,
 * `--fewshot_as_multiturn [bool]`) as `--flag=value`: the next word is taken as the value when it
 * can be one (a name not starting with "-"; a boolean word), else the value is empty (the
 * default template) or `true`.
 */
function optionalValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (argv[i] === "--apply-chat-template") {
      out.push(`--apply-chat-template=${next !== undefined && !next.startsWith("-") ? argv[++i] : ""}`);
    } else if (argv[i] === "--fewshot-as-multiturn") {
      out.push(
        `--fewshot-as-multiturn=${next !== undefined && BOOLEAN_WORDS.test(next) ? argv[++i] : "true"}`,
      );
    } else {
      out.push(argv[i]);
    }
  }
  return out;
}

/**
 * Joins a string option and a value that starts with "-" and a digit (`--limit -1`) into
 * `--limit=-1`: parseArgs would otherwise call the value ambiguous, and the range check then
 * says what is wrong with it.
 */
function attachNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith("--") ? argv[i].slice(2) : null;
    const option = name !== null ? (OPTIONS as Record<string, { type: string }>)[name] : undefined;
    if (option?.type === "string" && /^-\.?\d/.test(argv[i + 1] ?? "")) {
      out.push(`${argv[i]}=${argv[++i]}`);
    } else {
      out.push(argv[i]);
    }
  }
  return out;
}

/** The bundled models: every directory under models/ with a model.onnx, else the test fixtures. */
export function defaultModels(): string[] {
  for (const base of [join(ROOT, "models"), join(ROOT, "tests", "fixtures")]) {
    if (!existsSync(base)) continue;
    const dirs = readdirSync(base, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(base, d.name, "model.onnx")))
      .map((d) => join(base, d.name))
      .sort();
    if (dirs.length > 0) return dirs;
  }
  throw new UserError("Cannot find the bundled models (models/ or tests/fixtures/): pass --model DIR");
}

/**
 * What `evaluate` is asked to do for one model under `args`: the one mapping from eval's flags
 * (also a nightly entry's, see `scripts/nightly.ts`) to {@linkcode EvaluateOptions}.
 */
export function evaluateOptions(
  args: EvalArgs,
  selection: Selection,
  bundle: Pick<ModelBundle, "maxLength">,
): EvaluateOptions {
  return {
    ...selection,
    dataDir: args.dataDir,
    download: !args.offline,
    synthetic: args.synthetic,
    numFewshot: args.numFewshot,
    chatTemplate: args.applyChatTemplate ? { name: args.chatTemplateName } : null,
    fewshotAsMultiturn: args.fewshotAsMultiturn,
    systemInstruction: args.systemInstruction,
    genKwargs: args.genKwargs,
    limit: args.limit,
    seed: args.seed,
    batchSize: args.batchSize,
    autoBatch: args.autoBatch,
    maxLength: args.maxLength ?? bundle.maxLength,
    addBos: args.addBos,
    reuse: !args.fresh,
    prefixReuse: args.prefixReuse,
    prefillChunk: args.prefillChunk,
    cachePolicy: args.cachePolicy,
    shard: args.shard,
  };
}

/**
 * Checks what the run will need before any model runs (`preflight.ts`): every model directory,
 * every task under every model, the output path. Prints the tasks' notes on cells they leave out.
 *
 * @throws {UserError} for the first mistake.
 */
export async function checkEval(
  args: EvalArgs,
  selection: Selection,
  models: readonly string[],
): Promise<void> {
  const infos = checkModels(models);
  if (args.outputPath) checkOutputPath(args.outputPath);
  if (args.reportHtml) checkOutputPath(args.reportHtml, "--report-html");
  for (const info of infos) {
    if (args.cachePolicy) checkCachePolicy(args.cachePolicy, info);
    const ctx = taskContext(evaluateOptions(args, selection, info), info);
    for (const note of await checkTasks(selection.tasks, ctx)) {
      console.error(`kvbench: ${info.name}: ${note}`);
    }
  }
}

/**
 * The bundled models (no `--model`), less those a cache policy can't rewrite, each left out with
 * one line saying so (a model named with `--model` is refused instead).
 */
function bundledFor(cachePolicy: string | null): string[] {
  const models = defaultModels();
  if (cachePolicy === null) return models;
  return models.filter((dir) => {
    try {
      checkCachePolicy(cachePolicy, checkModels([dir])[0]);
      return true;
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      console.error(
        `kvbench: leaving out ${dir}: ${
          error.message.replace(/^Cannot use --cache-policy \S+ on \S+: /, "")
        }`,
      );
      return false;
    }
  });
}

/**
 * Runs `eval` with parsed arguments; returns the run ids. Ctrl-C ends the process (exit 130) once
 * the batch being committed is in, with one line saying what was kept.
 */
export async function runEval(args: EvalArgs): Promise<number[]> {
  const selection = resolveTasks(args.tasks);
  const { tasks } = selection;
  const models = args.models.length > 0 ? args.models : bundledFor(args.cachePolicy);
  const runIds: number[] = [];
  let opened: Store | null = null;
  const onInterrupt = () => void interrupted(opened, runIds);
  Deno.addSignalListener("SIGINT", onInterrupt);
  let failed = true;
  try {
    await checkEval(args, selection, models);
    const store = await Store.open(args.db);
    opened = store;
    for (const dir of models) {
      const bundle = await loadBundle(dir, args.device, { tf32: args.tf32 });
      const options = evaluateOptions(args, selection, bundle);
      const { runId, modelName, results, context } = await evaluate(bundle, store, {
        ...options,
        args: { ...args, models: undefined, model: dir },
      });
      runIds.push(runId);
      const headline = results.filter((r) => r.primary).map((r) =>
        `${r.task} ${r.metric} ${r.value.toFixed(4)}`
      );
      console.error(`✓ ${modelName} (run ${runId}): ${headline.join(", ")}`);
      if (args.outputPath) {
        const files = await writeLmEvalOutput(
          store,
          {
            runId,
            modelName: bundle.name,
            modelDir: bundle.dir,
            tasks,
            ctx: context,
            results,
            gitHash: kvbenchCommit(),
            chat: {
              template: args.applyChatTemplate
                ? bundle.tokenizer.chatTemplate(args.chatTemplateName).source
                : null,
              systemInstruction: args.systemInstruction,
              fewshotAsMultiturn: args.fewshotAsMultiturn,
            },
            config: {
              model: "kvbench-onnx",
              model_args: `pretrained=${bundle.dir},add_bos_token=${
                bundle.tokenizer.addsBos(args.addBos)
              },max_length=${options.maxLength}`,
              batch_size: args.batchSize,
              batch_sizes: [],
              device: args.device,
              use_cache: args.db,
              limit: args.limit,
              bootstrap_iters: 100000,
              gen_kwargs: null,
              random_seed: 0,
              numpy_seed: 1234,
              torch_seed: 1234,
              fewshot_seed: args.seed,
              onnxruntime_version: ort().version,
            },
          },
          args.outputPath,
          args.logSamples,
        ).catch((error) => outputFailed(error, runId, args.outputPath!));
        console.error(`  wrote ${files.join(", ")}`);
      }
      await bundle.model.release();
    }
    // This invocation's runs only: the database may hold unrelated models from earlier runs.
    const board = await buildLeaderboard(store, { runs: runIds });
    if (args.report) console.log(renderLeaderboard(board, "table"));
    if (args.reportHtml) {
      console.error(`  wrote ${await writeHtmlReport(store, board, args.reportHtml, { runs: runIds })}`);
    }
    failed = false;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    closeStore(opened, failed);
  }
  return runIds;
}

/** Closes the store; after a failure quietly, since closing then (a full disk) fails too. */
function closeStore(store: Store | null, failed: boolean): void {
  try {
    store?.close();
  } catch (error) {
    if (!failed) throw error;
  }
}

let interrupting = false;

/** Ctrl-C: mark the open run interrupted, close the store, say what was kept, exit 130. */
async function interrupted(store: Store | null, finished: readonly number[]): Promise<never> {
  // A second Ctrl-C while the batch in flight is being committed: leave now.
  if (interrupting) Deno.exit(130);
  interrupting = true;
  let line = "interrupted before any model ran: nothing was written";
  if (store !== null) {
    const kept = await store.interrupt().catch(() => []);
    const parts = kept.map((k) => `${k.samples} finished samples of ${k.modelName} (run ${k.runId})`);
    if (finished.length > 0) {
      parts.unshift(`run${finished.length > 1 ? "s" : ""} ${finished.join(", ")} (done)`);
    }
    line = `interrupted: kept ${parts.length > 0 ? parts.join(" and ") : "every finished run"} in ` +
      `${store.path} (samples are committed every ${DEFAULT_COMMIT_EVERY} docs; the batch in progress was ` +
      `dropped): run the same command again to resume`;
  }
  // Start on a line of its own after a progress bar.
  console.error(`${Deno.stderr.isTerminal() ? "\n" : ""}kvbench: ${line}`);
  Deno.exit(130);
}

/** A failure to write the lm-eval output, as one line saying that the run itself is stored. */
function outputFailed(error: unknown, runId: number, outputPath: string): never {
  if (error instanceof UserError) throw error;
  throw new UserError(
    `Cannot write results to --output-path ${outputPath} (${
      String((error as Error).message).split("\n")[0]
    }): ` +
      `run ${runId} is stored in the database; pass a writable --output-path and run the same command again`,
  );
}
