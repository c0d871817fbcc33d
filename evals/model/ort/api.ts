/**
 * ONNX Runtime's C API, called through Deno FFI: the library onnxruntime-node ships, its function
 * table at a fixed API version, and every returned `OrtStatus` turned into one error.
 *
 * The table's layout comes from `slots.ts`, generated from the C header by
 * `deno task ort-slots` (which also checks it); the signatures below are the only place
 * that says how each function is called.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { ORT_API_VERSION, SLOTS } from "./slots.ts";
import { SIGNATURES } from "./signatures.ts";
import { bindingDir } from "../providers.ts";

/** The C API functions kvbench calls, bound to the loaded library's table. */
export type OrtApi = { [K in keyof typeof SIGNATURES]: Deno.UnsafeFnPointer<(typeof SIGNATURES)[K]> } & {
  /** `RunWithBinding` on a worker thread: the call returns a promise and the event loop runs on. */
  RunWithBindingOnWorker: Deno.UnsafeFnPointer<typeof RUN_ON_WORKER>;
};

const RUN_ON_WORKER = { ...SIGNATURES.RunWithBinding, nonblocking: true } as const;

/** An error ONNX Runtime reported: the function that failed and its message. */
export class OrtError extends Error {
  /** The C API function that returned the status. */
  readonly call: string;
  /** Creates the error from a function name and ONNX Runtime's message. */
  constructor(call: string, message: string) {
    super(message);
    this.name = "OrtError";
    this.call = call;
  }
}

interface Loaded {
  api: OrtApi;
  version: string;
  path: string;
}

let loaded: Loaded | null = null;

/** The path of the `libonnxruntime.so.1` the engine loads (onnxruntime-node's). */
export function libraryPath(): string {
  return join(bindingDir(), "libonnxruntime.so.1");
}

/**
 * Opens the library once per process and binds the functions of {@linkcode SIGNATURES}.
 *
 * @throws {Error} when the library is missing or does not offer API version {@linkcode ORT_API_VERSION}.
 */
export function ort(): Loaded {
  if (loaded) return loaded;
  const path = libraryPath();
  if (!existsSync(path)) {
    throw new Error(`Cannot find ONNX Runtime at ${path}: run \`deno install\` to fetch onnxruntime-node`);
  }
  const lib = Deno.dlopen(path, { OrtGetApiBase: { parameters: [], result: "pointer" } });
  const base = new Deno.UnsafePointerView(lib.symbols.OrtGetApiBase()!);
  const getApi = new Deno.UnsafeFnPointer(base.getPointer(0)!, { parameters: ["u32"], result: "pointer" });
  const getVersion = new Deno.UnsafeFnPointer(base.getPointer(8)!, { parameters: [], result: "pointer" });
  const version = Deno.UnsafePointerView.getCString(getVersion.call()!);
  const table = getApi.call(ORT_API_VERSION);
  if (table === null) {
    throw new Error(
      `Cannot use ONNX Runtime ${version} at ${path}: it does not offer C API version ${ORT_API_VERSION}`,
    );
  }
  const view = new Deno.UnsafePointerView(table);
  const api = {} as Record<string, unknown>;
  for (const [name, signature] of Object.entries(SIGNATURES)) {
    const slot = SLOTS[name as keyof typeof SIGNATURES];
    api[name] = new Deno.UnsafeFnPointer(view.getPointer(slot * 8)!, signature);
  }
  api.RunWithBindingOnWorker = new Deno.UnsafeFnPointer(
    view.getPointer(SLOTS.RunWithBinding * 8)!,
    RUN_ON_WORKER,
  );
  loaded = { api: api as OrtApi, version, path };
  return loaded;
}

/** Throws an {@linkcode OrtError} for a non-null status, releasing it. */
export function check(call: string, status: Deno.PointerValue): void {
  if (status === null) return;
  const { api } = ort();
  const message = Deno.UnsafePointerView.getCString(api.GetErrorMessage.call(status)!);
  api.ReleaseStatus.call(status);
  throw new OrtError(call, message);
}

/** A NUL-terminated copy of `text` for a `const char*` argument. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** One pointer-sized out-parameter. */
export function outPointer(): BigUint64Array<ArrayBuffer> {
  return new BigUint64Array(1);
}

/** The pointer an out-parameter received. */
export function pointerIn(out: BigUint64Array): Deno.PointerValue {
  return Deno.UnsafePointer.create(out[0]);
}
