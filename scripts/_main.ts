/**
 * Runs a command's body: a {@linkcode UserError} becomes one line on stderr and exit code 2;
 * anything else keeps its stack trace and exits 1.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UserError } from "../core/errors.ts";

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

/** A command's flags as `parseArgs` declares them. */
export type Flags = Record<
  string,
  { type: "string" | "boolean"; short?: string; default?: string | boolean }
>;

/**
 * Parses a command's flags: `--help` / `-h` prints `help` and returns null (the command then does
 * nothing); a flag the command doesn't take is one {@linkcode UserError} pointing at `--help`.
 */
export function parseFlags<T extends Flags>(
  args: string[],
  options: T,
  help: string,
):
  | ReturnType<
    typeof parseArgs<{ args: string[]; options: T & { help: { type: "boolean" } }; strict: true }>
  >["values"]
  | null {
  const all = { ...options, help: { type: "boolean" as const, short: "h" } };
  let values;
  try {
    ({ values } = parseArgs({ args, options: all, strict: true }));
  } catch (error) {
    throw new UserError(`${(error as Error).message.split("\n")[0]}. Run with --help for the options`);
  }
  if ((values as { help?: boolean }).help) {
    console.log(help);
    return null;
  }
  return values as never;
}
