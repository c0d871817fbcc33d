/**
 * How the engine writes a small ONNX graph of its own: the subset of `onnx.proto` (ModelProto,
 * GraphProto, NodeProto, TensorProto, ValueInfoProto) that a few standard operators need, encoded
 * as protobuf bytes that `Session.fromBytes` opens. Field numbers are onnx.proto's.
 *
 * @module
 */

import { ELEMENT_CODES, type ElementType } from "./tensor.ts";

/** A graph input or output: a tensor with static (number) or symbolic (string) dimensions. */
export interface ValueSpec {
  /** Name. */
  name: string;
  /** Element type. */
  type: ElementType;
  /** Dimensions. */
  shape: readonly (number | string)[];
}

/** One operator of the default ONNX domain. */
export interface NodeSpec {
  /** Operator type (`Gather`, `LogSoftmax`, …). */
  op: string;
  /** Input value names. */
  inputs: readonly string[];
  /** Output value names. */
  outputs: readonly string[];
  /** Integer, integer list or string attributes. */
  attributes?: Readonly<Record<string, number | readonly number[] | string>>;
}

/** A constant int64 tensor. */
export interface Int64Initializer {
  /** Name. */
  name: string;
  /** Dimensions. */
  dims: readonly number[];
  /** Values, row-major. */
  values: readonly number[];
}

/** A whole graph: inputs, constants, nodes in order, outputs. */
export interface GraphSpec {
  /** Graph name. */
  name: string;
  /** Graph inputs. */
  inputs: readonly ValueSpec[];
  /** Graph outputs. */
  outputs: readonly ValueSpec[];
  /** Operators, each after the nodes whose outputs it reads. */
  nodes: readonly NodeSpec[];
  /** Constants. */
  initializers?: readonly Int64Initializer[];
  /** Default-domain opset. @default {17} */
  opset?: number;
}

// IR version 8 goes with opset 17 and is read by every ONNX Runtime since 1.14.
const IR_VERSION = 8;

/** Protobuf bytes of an ONNX ModelProto holding `graph`. */
export function encodeModel(graph: GraphSpec): Uint8Array<ArrayBuffer> {
  const g = new Writer();
  for (const node of graph.nodes) g.message(1, encodeNode(node));
  g.string(2, graph.name);
  for (const init of graph.initializers ?? []) g.message(5, encodeInitializer(init));
  for (const input of graph.inputs) g.message(11, encodeValue(input));
  for (const output of graph.outputs) g.message(12, encodeValue(output));
  const opset = new Writer();
  opset.string(1, "");
  opset.varint(2, graph.opset ?? 17);
  const model = new Writer();
  model.varint(1, IR_VERSION);
  model.string(2, "kvbench");
  model.message(7, g.bytes());
  model.message(8, opset.bytes());
  return model.bytes();
}

const ATTRIBUTE_INT = 2;
const ATTRIBUTE_STRING = 3;
const ATTRIBUTE_INTS = 7;

function encodeNode(node: NodeSpec): Uint8Array {
  const w = new Writer();
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, `${node.op}_${node.outputs[0]}`);
  w.string(4, node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    const a = new Writer();
    a.string(1, name);
    if (typeof value === "number") {
      a.varint(3, value);
      a.varint(20, ATTRIBUTE_INT);
    } else if (typeof value === "string") {
      a.string(4, value);
      a.varint(20, ATTRIBUTE_STRING);
    } else {
      for (const v of value) a.varint(8, v);
      a.varint(20, ATTRIBUTE_INTS);
    }
    w.message(5, a.bytes());
  }
  return w.bytes();
}

function encodeInitializer(init: Int64Initializer): Uint8Array {
  const w = new Writer();
  for (const d of init.dims) w.varint(1, d);
  w.varint(2, ELEMENT_CODES.int64);
  for (const v of init.values) w.varint(7, v);
  w.string(8, init.name);
  return w.bytes();
}

function encodeValue(value: ValueSpec): Uint8Array {
  const shape = new Writer();
  for (const d of value.shape) {
    const dim = new Writer();
    if (typeof d === "number") dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim.bytes());
  }
  const tensor = new Writer();
  tensor.varint(1, ELEMENT_CODES[value.type]);
  tensor.message(2, shape.bytes());
  const type = new Writer();
  type.message(1, tensor.bytes());
  const w = new Writer();
  w.string(1, value.name);
  w.message(2, type.bytes());
  return w.bytes();
}

/** Protobuf wire format: varints (wire type 0) and length-delimited fields (wire type 2). */
class Writer {
  #parts: number[] = [];

  varint(field: number, value: number): void {
    this.#raw((field << 3) | 0);
    // int64 fields carry negative values as 10-byte two's complement varints.
    let v = BigInt.asUintN(64, BigInt(value));
    do {
      const byte = Number(v & 0x7fn);
      v >>= 7n;
      this.#parts.push(v > 0n ? byte | 0x80 : byte);
    } while (v > 0n);
  }

  string(field: number, text: string): void {
    this.message(field, new TextEncoder().encode(text));
  }

  message(field: number, bytes: Uint8Array): void {
    this.#raw((field << 3) | 2);
    this.#raw(bytes.length);
    for (const b of bytes) this.#parts.push(b);
  }

  bytes(): Uint8Array<ArrayBuffer> {
    return Uint8Array.from(this.#parts);
  }

  #raw(value: number): void {
    while (value > 0x7f) {
      this.#parts.push((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    this.#parts.push(value);
  }
}
