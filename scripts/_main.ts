/**
 * Runs a command's body: a {@linkcode UserError} becomes one line on stderr and exit code 2;
 * anything else keeps its stack trace and exits 1.
 *
 * @module
 */

import { UserError } from "../evals/errors.ts";

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
