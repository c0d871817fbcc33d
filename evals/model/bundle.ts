/**
 * A model directory as a whole: graph, tokenizer, sidecar and config, hashed so results can be
 * tied to the exact files that produced them.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { UserError } from "../../core/errors.ts";
import { type Device, type LoadOptions, OnnxModel } from "./onnx_model.ts";
import { inspectModelFile } from "./onnx_signature.ts";
import { checkScoreGraph } from "./score_graph.ts";
import { type Sidecar, validateSidecar } from "./sidecar.ts";
import { TextTokenizer } from "./tokenizer.ts";

export type { Sidecar } from "./sidecar.ts";

/** A loaded model directory. */
export interface ModelBundle {
  /** Absolute directory. */
  dir: string;
  /** Display name: sidecar `name`, else the directory's name. */
  name: string;
  /** The graph, ready to run. */
  model: OnnxModel;
  /** The tokenizer. */
  tokenizer: TextTokenizer;
  /** The sidecar, `{}` when absent. */
  sidecar: Sidecar;
  /** config.json, `{}` when absent. */
  config: Record<string, unknown>;
  /** sha256 over the graph and its external data files. */
  sha256: string;
  /** Longest sequence: sidecar, then config.json, then tokenizer_config.json, then 2048. */
  maxLength: number;
}

/** A model directory checked without opening a session: what the tasks need to know up front. */
export type BundleInfo = Omit<ModelBundle, "model" | "sha256"> & {
  /** Size of the logits' last axis, as the graph declares it. */
  vocabSize: number;
};

/** Loads `dir` and checks it has what kvbench needs. */
export async function loadBundle(
  dir: string,
  device: Device = "cpu",
  options: Pick<LoadOptions, "tf32" | "cudaGraphs"> = {},
): Promise<ModelBundle> {
  const files = readModelDir(dir);
  const score = files.sidecar.score_graph;
  const model = await OnnxModel.load(files.dir, {
    ...options,
    device,
    stateHints: stateHints(files.sidecar),
    keyLengthMultiple: files.sidecar.key_length_multiple ?? 1,
    ...(files.sidecar.max_length ? { maxPositions: files.sidecar.max_length } : {}),
    ...(score ? { scoreGraph: join(files.dir, score) } : {}),
  });
  return { ...files, model, sha256: hashModelFiles(files.dir) };
}

/**
 * Checks `dir` as {@linkcode loadBundle} does — the directory, the sidecar against its schema, the
 * tokenizer, the graph's inputs, outputs, states and external data files — without opening an
 * ONNX Runtime session, so that every model of a run is checked before the first one runs.
 */
export function inspectBundle(dir: string): BundleInfo {
  const files = readModelDir(dir);
  const hints = stateHints(files.sidecar);
  const main = inspectModelFile(files.dir, hints);
  const score = files.sidecar.score_graph;
  if (score) {
    if (!existsSync(join(files.dir, score))) {
      throw new UserError(
        `Cannot load ${files.dir} as its kvbench.json names a scoring graph ${score} that is not there: ` +
          `copy every file the export wrote, or drop "score_graph" from kvbench.json`,
      );
    }
    if (!main.inputs.some((i) => i.name === "seqlens_k")) {
      throw new UserError(
        `Cannot load ${files.dir} as its kvbench.json names a scoring graph ${score} but model.onnx has no ` +
          `static cache (no seqlens_k input) for it to read: drop "score_graph" from kvbench.json`,
      );
    }
    const graph = inspectModelFile(files.dir, hints, score);
    checkScoreGraph(join(files.dir, score), graph.inputs, graph, main);
  }
  return { ...files, vocabSize: main.vocabSize };
}

/** Everything of a model directory but the graph: checked, parsed. */
function readModelDir(dir: string): Omit<ModelBundle, "model" | "sha256"> {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new UserError(
      `Cannot load model "${dir}" as it is not a directory: pass --model DIR where DIR holds ` +
        `model.onnx, tokenizer.json and tokenizer_config.json`,
    );
  }
  const sidecarPath = join(abs, "kvbench.json");
  const sidecar = validateSidecar(readJson(sidecarPath), sidecarPath);
  const config = readJson(join(abs, "config.json"));
  const tokenizerConfig = readJson(join(abs, "tokenizer_config.json"));
  const tokenizer = TextTokenizer.load(abs);
  return {
    dir: abs,
    name: sidecar.name ?? basename(abs),
    tokenizer,
    sidecar,
    config,
    maxLength: resolveMaxLength(sidecar, config, tokenizerConfig),
  };
}

function stateHints(sidecar: Sidecar) {
  return sidecar.state_seq_axis ? { seqAxis: sidecar.state_seq_axis } : {};
}

/** lm-eval's order of places to find the context length, with the sidecar first. */
export function resolveMaxLength(
  sidecar: Sidecar,
  config: Record<string, unknown>,
  tokenizerConfig: Record<string, unknown>,
): number {
  const candidates = [
    sidecar.max_length,
    config.n_positions,
    config.max_position_embeddings,
    config.n_ctx,
    tokenizerConfig.model_max_length,
  ];
  for (const c of candidates) {
    if (typeof c === "number" && Number.isInteger(c) && c > 0 && c < 1e7) return c;
  }
  return 2048;
}

/**
 * sha256 of model.onnx, the scoring graph the sidecar names (if any) and their external data
 * files, in name order.
 */
export function hashModelFiles(dir: string): string {
  const score = readJson(join(dir, "kvbench.json")).score_graph;
  const graphs = ["model.onnx", ...(typeof score === "string" ? [score] : [])];
  const hash = createHash("sha256");
  const files = readdirSync(dir)
    .filter((f) => graphs.includes(f) || /^model\.onnx[._]data$|\.onnx\.data$|\.onnx_data$/.test(f))
    .sort();
  // Read in blocks: external data files of real models are gigabytes.
  const block = new Uint8Array(1 << 24);
  for (const file of files) {
    hash.update(file);
    const fd = openSync(join(dir, file), "r");
    try {
      for (let n = readSync(fd, block); n > 0; n = readSync(fd, block)) hash.update(block.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  }
  return hash.digest("hex");
}

function readJson(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UserError(`Cannot read ${path} as it is not valid JSON: ${(error as Error).message}`);
  }
}
