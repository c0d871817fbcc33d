/**
 * A model.onnx's inputs, outputs and external data files, read from the protobuf without
 * opening a session and checked as `OnnxModel.load` checks them, so that every `--model` can be
 * checked before the first one runs.
 *
 * Only the fields needed are decoded (onnx.proto's numbers): ModelProto.graph (7); GraphProto's
 * initializer (5), input (11) and output (12); a TensorProto's name (8), external_data (13) and
 * data_location (14). Everything else — nodes, weights — is skipped by its length, read from the
 * file in blocks rather than whole, since a graph may embed up to 2 GB of weights.
 *
 * @module
 */

import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { dirname, join } from "node:path";
import { UserError } from "../../core/errors.ts";
import { openSession } from "./onnx_model.ts";
import { elementName } from "./ort/tensor.ts";
import { type CheckedGraph, checkGraphContract } from "./contract.ts";
import type { StateHints, TensorMeta } from "./state.ts";

/** What the graph declares. */
export interface OnnxSignature {
  /** Inputs to feed: the graph's inputs that are not initializers, as ONNX Runtime lists them. */
  inputs: TensorMeta[];
  /** Outputs. */
  outputs: TensorMeta[];
  /** External data files the weights name, relative to the model's folder, without duplicates. */
  externalData: string[];
}

/** The file is not a protobuf ModelProto with a graph (or is cut short). */
export class NotOnnxError extends Error {}

// Small: a jump past an embedded weight reads one block for the few bytes of the next header.
const BLOCK = 1 << 16;

/** Reads bytes at any offset of a file through one cached block. */
class BlockReader {
  readonly #fd: number;
  readonly #block = new Uint8Array(BLOCK);
  #start = 0;
  #end = 0;

  constructor(fd: number) {
    this.#fd = fd;
  }

  byte(pos: number): number {
    if (pos < this.#start || pos >= this.#end) {
      this.#start = pos;
      this.#end = pos + readSync(this.#fd, this.#block, 0, BLOCK, pos);
      if (pos >= this.#end) throw new NotOnnxError("the file ends inside a field");
    }
    return this.#block[pos - this.#start];
  }

  bytes(pos: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.byte(pos + i);
    return out;
  }
}

/** One protobuf field: its number, wire type, and where its value lies. */
interface Field {
  number: number;
  wire: number;
  /** Varint value (wire type 0). */
  value: number;
  /** Start and end of a length-delimited value (wire type 2). */
  start: number;
  end: number;
}

/** The fields of the message between `start` and `end`. */
function* fields(r: BlockReader, start: number, end: number): Generator<Field> {
  let pos = start;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const b = r.byte(pos++);
      // Past 2^53 the value loses bits; only lengths and small enums are read, which never get there.
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
    throw new NotOnnxError("a varint runs past 10 bytes");
  };
  while (pos < end) {
    const tag = varint();
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    if (number === 0) throw new NotOnnxError("field number 0");
    const field: Field = { number, wire, value: 0, start: pos, end: pos };
    if (wire === 0) field.value = varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const length = varint();
      field.start = pos;
      field.end = pos += length;
    } else throw new NotOnnxError(`wire type ${wire}`);
    if (pos > end) throw new NotOnnxError("a field runs past its message");
    yield field;
  }
}

const text = (r: BlockReader, f: Field) => new TextDecoder().decode(r.bytes(f.start, f.end - f.start));

/** A ValueInfoProto as ONNX Runtime describes it: element type name, dims (number, name or "?"). */
function valueInfo(r: BlockReader, start: number, end: number): TensorMeta {
  let name = "";
  let type = "non-tensor";
  const shape: (number | string)[] = [];
  for (const f of fields(r, start, end)) {
    if (f.number === 1 && f.wire === 2) name = text(r, f);
    if (f.number !== 2 || f.wire !== 2) continue;
    for (const t of fields(r, f.start, f.end)) {
      if (t.number !== 1 || t.wire !== 2) continue; // TypeProto.tensor_type
      type = "onnx:0";
      for (const tt of fields(r, t.start, t.end)) {
        if (tt.number === 1 && tt.wire === 0) type = elementName(tt.value);
        if (tt.number !== 2 || tt.wire !== 2) continue; // TensorShapeProto
        for (const dim of fields(r, tt.start, tt.end)) {
          if (dim.number !== 1 || dim.wire !== 2) continue;
          let size: number | string = "?";
          for (const d of fields(r, dim.start, dim.end)) {
            if (d.number === 1 && d.wire === 0) size = d.value;
            if (d.number === 2 && d.wire === 2) size = text(r, d) || "?";
          }
          shape.push(size);
        }
      }
    }
  }
  return { name, type, shape };
}

/** A weight whose bytes lie in an external data file, as its TensorProto says. */
export interface ExternalWeight {
  /** Initializer name. */
  name: string;
  /** ONNX element type code (TensorProto.data_type). */
  dataType: number;
  /** Dimensions. */
  dims: number[];
  /** The data file, relative to the graph's folder. */
  location: string;
  /** Where its bytes start in that file, and how many there are. */
  offset: number;
  length: number;
}

/** An initializer's name and, when its data lives outside the graph, where (`location` null: inside). */
function initializer(r: BlockReader, start: number, end: number): Omit<ExternalWeight, "location"> & {
  location: string | null;
} {
  let name = "";
  let external = false;
  let dataType = 0;
  const dims: number[] = [];
  const where: Record<string, string> = {};
  for (const f of fields(r, start, end)) {
    if (f.number === 8 && f.wire === 2) name = text(r, f);
    if (f.number === 14 && f.wire === 0) external = f.value === 1;
    if (f.number === 2 && f.wire === 0) dataType = f.value;
    if (f.number === 1 && f.wire === 0) dims.push(f.value);
    if (f.number === 1 && f.wire === 2) dims.push(...packedVarints(r, f));
    if (f.number !== 13 || f.wire !== 2) continue;
    let key = "";
    let value = "";
    for (const e of fields(r, f.start, f.end)) {
      if (e.number === 1 && e.wire === 2) key = text(r, e);
      if (e.number === 2 && e.wire === 2) value = text(r, e);
    }
    where[key] = value;
  }
  return {
    name,
    dataType,
    dims,
    location: external && where.location ? where.location : null,
    offset: Number(where.offset ?? 0),
    length: Number(where.length ?? -1),
  };
}

/** The varints of a packed repeated field. */
function packedVarints(r: BlockReader, f: Field): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (let pos = f.start; pos < f.end; pos++) {
    const b = r.byte(pos);
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) {
      out.push(value);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

/** The weights of the ONNX model at `path` that live in external data files. */
export function readExternalWeights(path: string): ExternalWeight[] {
  const fd = openSync(path, "r");
  try {
    const r = new BlockReader(fd);
    const graph = graphField(r, fstatSync(fd).size);
    const weights: ExternalWeight[] = [];
    for (const f of fields(r, graph.start, graph.end)) {
      if (f.wire !== 2 || f.number !== 5) continue;
      const init = initializer(r, f.start, f.end);
      if (init.location !== null && init.length >= 0) weights.push({ ...init, location: init.location });
    }
    return weights;
  } finally {
    closeSync(fd);
  }
}

/** ModelProto.graph. */
function graphField(r: BlockReader, size: number): Field {
  let graph: Field | null = null;
  for (const f of fields(r, 0, size)) {
    if (f.number === 7 && f.wire === 2) graph = f;
  }
  if (graph === null) throw new NotOnnxError("no graph");
  return graph;
}

/**
 * Reads the signature of the ONNX model at `path`.
 *
 * @throws {NotOnnxError} when the file is not a ModelProto with a graph.
 */
export function readOnnxSignature(path: string): OnnxSignature {
  const fd = openSync(path, "r");
  try {
    const r = new BlockReader(fd);
    const graph = graphField(r, fstatSync(fd).size);
    const inputs: TensorMeta[] = [];
    const outputs: TensorMeta[] = [];
    const initializers = new Set<string>();
    const externalData = new Set<string>();
    for (const f of fields(r, graph.start, graph.end)) {
      if (f.wire !== 2) continue;
      if (f.number === 11) inputs.push(valueInfo(r, f.start, f.end));
      else if (f.number === 12) outputs.push(valueInfo(r, f.start, f.end));
      else if (f.number === 5) {
        const init = initializer(r, f.start, f.end);
        initializers.add(init.name);
        if (init.location !== null) externalData.add(init.location);
      }
    }
    return {
      // An initializer listed as an input has a default value: ONNX Runtime does not ask for it.
      inputs: inputs.filter((i) => !initializers.has(i.name)),
      outputs,
      externalData: [...externalData],
    };
  } finally {
    closeSync(fd);
  }
}

/** External data files `signature` names that are not next to the model at `path`. */
export function missingExternalData(path: string, signature: OnnxSignature): string[] {
  return signature.externalData.filter((file) => !existsSync(join(dirname(path), file)));
}

/**
 * Checks the graph at `dir/model.onnx` as `OnnxModel.load` does — token inputs, a float logits
 * output with a static vocabulary axis, paired states — and that its external data files are
 * there, without opening a session. A file this reader cannot make sense of, or whose vocabulary
 * axis only shape inference tells, is opened once on the CPU instead, so ONNX Runtime has the
 * last word.
 *
 * @throws {UserError} with the message `OnnxModel.load` gives.
 */
export function inspectModelFile(
  dir: string,
  hints: StateHints = {},
  file = "model.onnx",
): CheckedGraph & { inputs: readonly TensorMeta[] } {
  const path = join(dir, file);
  if (!existsSync(path)) {
    throw new UserError(
      `Cannot load model from ${dir} as ${path} does not exist: point --model at a directory ` +
        `holding model.onnx, tokenizer.json and tokenizer_config.json`,
    );
  }
  let signature: Pick<OnnxSignature, "inputs" | "outputs">;
  try {
    const read = readOnnxSignature(path);
    const missing = missingExternalData(path, read);
    if (missing.length > 0) {
      throw new UserError(
        `Cannot load ${path} as the weights file${missing.length > 1 ? "s" : ""} ${
          missing.join(", ")
        } it names ` +
          `${
            missing.length > 1 ? "are" : "is"
          } missing from ${dir}: copy every file the export wrote next to model.onnx`,
      );
    }
    signature = read;
    const vocab = read.outputs.find((o) => o.name === "logits")?.shape.at(-1);
    if (vocab !== undefined && typeof vocab !== "number") signature = sessionSignature(path);
  } catch (error) {
    if (error instanceof UserError) throw error;
    signature = sessionSignature(path);
  }
  return {
    ...checkGraphContract(path, signature.inputs, signature.outputs, hints),
    inputs: signature.inputs,
  };
}

function sessionSignature(path: string): Pick<OnnxSignature, "inputs" | "outputs"> {
  const session = openSession(path, "cpu");
  try {
    return { inputs: [...session.inputs], outputs: [...session.outputs] };
  } finally {
    session.release();
  }
}
