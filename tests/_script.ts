/**
 * Runs a command as a user does: `scripts/<name>.ts` in a child Deno process from the repo root.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** What a finished command left behind. */
export interface ScriptResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/<name>.ts` with `args` (and extra environment) and collects its output. */
export async function runScript(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ScriptResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, `scripts/${name}.ts`), ...args],
    cwd: ROOT,
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    signal: out.signal,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** MQAR cells for {@linkcode evalMqar}: comma-separated kv-pair counts and lengths, docs per cell. */
export interface MqarCells {
  kvPairs?: string;
  lengths?: string;
  limit?: string;
}

/**
 * `deno task eval` of `models` on a few MQAR cells into `db`, as a user runs it, with `extra` flags;
 * returns the command's result (the caller asserts on it).
 */
export function evalMqar(
  db: string,
  models: readonly string[],
  { kvPairs = "4,8", lengths = "64", limit = "4" }: MqarCells = {},
  extra: readonly string[] = [],
): Promise<ScriptResult> {
  return runScript("eval", [
    "--model",
    models.join(","),
    "--tasks",
    "mqar",
    "--kv-pairs",
    kvPairs,
    "--lengths",
    lengths,
    "--limit",
    limit,
    "--db",
    db,
    "--no-report",
    ...extra,
  ]);
}
