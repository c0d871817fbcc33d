/**
 * Runs a command's body: a {@linkcode UserError} becomes one line on stderr and exit code 2;
 * anything else keeps its stack trace and exits 1.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UserError } from "../core/errors.ts";
import { type FlagTable, helpText, parseOptions } from "../evals/flags.ts";

/** Runs `body`, mapping errors to exit codes. */
export async function runMain(body: () => Promise<void> | void): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof UserError) {
      console.error(`kvbench: ${error.message}`);
      Deno.exit(2);
    }
    throw error;
  }
  Deno.exit(0);
}

/** The values `parseArgs` gives for a flag table: strings for `string` flags, booleans for switches. */
export type FlagValues<T extends FlagTable> = {
  [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : string;
};

/**
 * Parses a command's flags (one table, evals/flags.ts): `--help` / `-h` prints `usage` and the
 * table's help lines and returns null (the command then does nothing); a flag the command doesn't
 * take is one {@linkcode UserError} pointing at `--help`. Defaults are filled in from the table.
 */
export function parseFlags<T extends FlagTable>(
  args: string[],
  table: T,
  usage: string,
): FlagValues<T> | null {
  const all: FlagTable = { ...table, help: { type: "boolean", short: "h", help: "show this help" } };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options: parseOptions(all) as never, strict: true }));
  } catch (error) {
    throw new UserError(`${(error as Error).message.split("\n")[0]}. Run with --help for the options`);
  }
  if (values.help) {
    console.log(helpText(usage, all));
    return null;
  }
  for (const [name, f] of Object.entries(table)) {
    if (values[name] === undefined && f.default !== undefined) values[name] = f.default;
  }
  return values as FlagValues<T>;
}
