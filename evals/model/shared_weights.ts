/**
 * Weights that several graphs of one export read from the same bytes of the same data file (a
 * static export and its scoring graph), loaded once where the model runs and handed to every
 * session that reads them (`SessionOptions.initializers`), so the device holds one copy instead of
 * one per session.
 *
 * @module
 */

import { closeSync, openSync, readSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { readExternalWeights } from "./onnx_signature.ts";
import { placedTensor } from "./ort/session.ts";
import { ELEMENT_CODES, elementName, type ElementType, type Location, type Tensor } from "./ort/tensor.ts";

/** Weights under this many bytes are left to each session: too small to matter. */
const MIN_BYTES = 1 << 16;

/** What one shared weight is and where its bytes are. */
export interface SharedWeight {
  /** Initializer name, the same in every graph. */
  name: string;
  /** Element type. */
  type: ElementType;
  /** Dimensions. */
  dims: number[];
  /** The data file (absolute). */
  file: string;
  /** Where its bytes start in that file, and how many there are. */
  offset: number;
  length: number;
}

/**
 * The weights of at least `MIN_BYTES` that every graph at `graphs` (paths) reads from the same
 * bytes of the same external data file, under the same name, type and shape. A file this reader
 * cannot parse shares nothing (its session, when it opens, says what is wrong with it).
 */
export function findSharedWeights(graphs: readonly string[]): SharedWeight[] {
  let read;
  try {
    read = graphs.map((graph) =>
      new Map(
        readExternalWeights(graph).map((w) => [w.name, { ...w, file: resolve(dirname(graph), w.location) }]),
      )
    );
  } catch {
    return [];
  }
  const key = (w: { file: string; offset: number; length: number; dataType: number; dims: number[] }) =>
    `${w.file}:${w.offset}:${w.length}:${w.dataType}:${w.dims.join("x")}`;
  const [first, ...others] = read;
  const shared: SharedWeight[] = [];
  for (const [name, weight] of first ?? []) {
    const type = elementName(weight.dataType);
    if (weight.length < MIN_BYTES || !isElementType(type)) continue;
    if (!others.every((o) => o.has(name) && key(o.get(name)!) === key(weight))) continue;
    const { file, offset, length, dims } = weight;
    shared.push({ name, type, dims, file, offset, length });
  }
  return shared;
}

function isElementType(type: string): type is ElementType {
  return type in ELEMENT_CODES;
}

/**
 * `weights` (of {@linkcode findSharedWeights}) read from their files into tensors where `location`
 * computes, by name. The caller disposes of them once every session using them is released.
 */
export function loadSharedWeights(
  weights: readonly SharedWeight[],
  location: Location,
  deviceId = 0,
): Map<string, Tensor> {
  const tensors = new Map<string, Tensor>();
  const files = new Map<string, number>();
  try {
    for (const w of weights) {
      let fd = files.get(w.file);
      if (fd === undefined) {
        fd = openSync(w.file, "r");
        files.set(w.file, fd);
      }
      const data = new Uint8Array(w.length);
      for (let done = 0; done < w.length;) {
        const n = readSync(fd, data, done, w.length - done, w.offset + done);
        if (n === 0) throw new RangeError(`${w.file} ends before weight ${w.name}'s bytes do`);
        done += n;
      }
      tensors.set(w.name, placedTensor(location, deviceId, w.type, w.dims, data));
    }
    return tensors;
  } catch (error) {
    for (const tensor of tensors.values()) tensor.dispose();
    throw error;
  } finally {
    for (const fd of files.values()) closeSync(fd);
  }
}
