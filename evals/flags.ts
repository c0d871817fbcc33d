/**
 * Command-line flags, declared once: each command's flags are one typed table (what `parseArgs`
 * needs plus the flag's help line), and the flags several commands share (`--model`, `--device`,
 * `--tf32`, `--db`) are written here once, with their help and their checks, so `eval`, `bench`,
 * `parity`, `nightly` and the rest read them alike.
 *
 * @module
 */

import { UserError } from "../core/errors.ts";
import { type Device, DEVICES } from "./model/onnx_model.ts";
import { DEFAULT_DB } from "../results/store.ts";

/** One flag: its `parseArgs` declaration and its line in `--help`. */
export interface FlagSpec {
  /** `string` takes a value; `boolean` is a switch. */
  type: "string" | "boolean";
  /** The help line (after the flag and its value's placeholder). */
  help: string;
  /** The value's placeholder in the help (default `X`). */
  value?: string;
  /** One-letter alias. */
  short?: string;
  /** Value when the flag is not given. */
  default?: string | boolean;
}

/** A command's flags by name (without the leading `--`). */
export type FlagTable = Record<string, FlagSpec>;

/** `--model DIR[,DIR…]`. */
export const MODEL_FLAG = {
  type: "string",
  value: "DIR[,DIR…]",
  help: "model directories, comma-separated",
} as const satisfies FlagSpec;

/** `--device cpu|cuda`. */
export const DEVICE_FLAG = {
  type: "string",
  value: DEVICES.join("|"),
  help: "where the model runs (default: cpu)",
} as const satisfies FlagSpec;

/** `--tf32 on|off`. */
export const TF32_FLAG = {
  type: "string",
  value: "on|off",
  help: "let CUDA round float32 matrix products to TF32 (default: off, as PyTorch; on is faster)",
} as const satisfies FlagSpec;

/** `--db PATH`. */
export const DB_FLAG = {
  type: "string",
  value: "PATH",
  default: DEFAULT_DB,
  help: `results database (default: ${DEFAULT_DB})`,
} as const satisfies FlagSpec;

/** The `parseArgs` options of a table. */
export function parseOptions(
  table: FlagTable,
): Record<string, { type: "string" | "boolean"; short?: string }> {
  return Object.fromEntries(
    Object.entries(table).map((
      [name, f],
    ) => [name, { type: f.type, ...(f.short ? { short: f.short } : {}) }]),
  );
}

/** The table's lines for `--help`, flags aligned; a help text's own line breaks stay, indented. */
export function flagLines(table: FlagTable): string[] {
  const flags = Object.entries(table).map(([name, f]) =>
    `--${name}${f.type === "string" ? ` ${f.value ?? "X"}` : ""}${f.short ? `, -${f.short}` : ""}`
  );
  const width = Math.max(22, ...flags.map((f) => f.length + 1));
  return Object.values(table).flatMap((f, i) =>
    f.help.split("\n").map((line, j) => `  ${(j === 0 ? flags[i] : "").padEnd(width)} ${line}`)
  );
}

/** A command's `--help`: its usage and description, then its flags. */
export function helpText(usage: string, table: FlagTable): string {
  return [usage, "", "Options:", ...flagLines(table)].join("\n");
}

/**
 * `--device`'s value, `fallback` when absent.
 *
 * @throws {UserError} for a device kvbench does not run on.
 */
export function deviceFlag(raw: string | undefined, fallback: Device = "cpu"): Device {
  if (raw === undefined) return fallback;
  if (!(DEVICES as readonly string[]).includes(raw)) {
    throw new UserError(`--device must be one of ${DEVICES.join(", ")} (got "${raw}")`);
  }
  return raw as Device;
}

/**
 * An `on|off` flag's value, `fallback` when absent.
 *
 * @throws {UserError} for anything else.
 */
export function onOffFlag(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  if (raw !== "on" && raw !== "off") throw new UserError(`--${name} must be on or off (got "${raw}")`);
  return raw === "on";
}
