/**
 * Typed access to dataset rows: each read names the file, row and field it failed on, so a
 * malformed dataset is reported where it is malformed.
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";

/** A dataset row as read: JSON-like values (DuckDB's BIGINTs already made numbers). */
export type Row = Record<string, unknown>;

/** One row of one file, with checked accessors. Dotted names reach into structs (`choices.text`). */
export class RowFields {
  /** Wraps `row`, the `index`-th (from 0) of `file`. */
  constructor(readonly row: Row, readonly file: string, readonly index: number) {}

  /** The raw value of a field, `undefined` when absent. */
  value(name: string): unknown {
    let current: unknown = this.row;
    for (const part of name.split(".")) {
      if (current === null || typeof current !== "object") return undefined;
      current = (current as Record<string, unknown>)[part];
    }
    return current;
  }

  /** A string field. */
  string(name: string): string {
    const v = this.value(name);
    if (typeof v !== "string") this.fail(name, "a string", v);
    return v;
  }

  /** An integer field; integers stored as digit strings (e.g. HellaSwag's `label`) are accepted. */
  int(name: string): number {
    const v = this.value(name);
    if (typeof v === "number" && Number.isInteger(v)) return v;
    if (typeof v === "string" && /^\d+$/.test(v)) return Number(v);
    return this.fail(name, "an integer", v);
  }

  /** A list-of-strings field. */
  strings(name: string): string[] {
    const v = this.value(name);
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) this.fail(name, "a list of strings", v);
    return v as string[];
  }

  /** Throws the error for a field that is not what the task needs. */
  fail(name: string, expected: string, got: unknown): never {
    throw new UserError(
      `Cannot read row ${this.index} of ${this.file}: field "${name}" should be ${expected}, got ${
        describe(got)
      }`,
    );
  }
}

/** Turns DuckDB's values into plain JSON-like ones (BIGINT → number when exact). */
export function plainValue(value: unknown): unknown {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }
  if (Array.isArray(value)) return value.map(plainValue);
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainValue(v)]));
  }
  return value;
}

/** Python's `==` on JSON-like values (dict key order ignored): how lm-eval drops a doc from its own shots. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object" || Array.isArray(b)) {
    return false;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length &&
    ka.every((k) =>
      k in b && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
    );
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing (the field is missing)";
  const text = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
