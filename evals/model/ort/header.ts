/**
 * Reads the function table layout of ONNX Runtime's C API (`struct OrtApi`) from
 * `onnxruntime_c_api.h`: the i-th entry is the i-th function pointer of the table that
 * `OrtGetApiBase()->GetApi(version)` returns.
 *
 * @module
 */

/** The entry names of `struct OrtApi`, in table order, and the header's `ORT_API_VERSION`. */
export interface OrtApiLayout {
  /** `ORT_API_VERSION` as the header defines it. */
  version: number;
  /** Entry names in slot order. */
  entries: string[];
}

// The five ways the header declares a table entry. ORT_API_T's first argument is the return type.
const ENTRY =
  /ORT_API2_STATUS\(\s*(\w+)|ORT_CLASS_RELEASE2?\(\s*(\w+)\s*\)|ORT_API_T\(\s*[^,]+,\s*(\w+)|\(\s*ORT_API_CALL\s*\*\s*(\w+)\s*\)/g;

/**
 * Parses `struct OrtApi` out of the header text.
 *
 * @throws {Error} when the header has no `ORT_API_VERSION` or no `struct OrtApi { … };`.
 */
export function parseOrtApiHeader(text: string): OrtApiLayout {
  const version = text.match(/#define\s+ORT_API_VERSION\s+(\d+)/);
  if (!version) throw new Error("Cannot read the C API header: it defines no ORT_API_VERSION");
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
  const start = code.search(/struct\s+OrtApi\s*\{/);
  if (start < 0) throw new Error("Cannot read the C API header: it has no struct OrtApi");
  const end = code.indexOf("\n};", start);
  const body = code.slice(code.indexOf("{", start) + 1, end < 0 ? undefined : end);
  const entries: string[] = [];
  for (const m of body.matchAll(ENTRY)) {
    if (m[1]) entries.push(m[1]);
    else if (m[2]) entries.push(`Release${m[2]}`);
    else entries.push(m[3] ?? m[4]);
  }
  return { version: Number(version[1]), entries };
}
