/**
 * lm-eval's `--gen_kwargs` for kvbench's greedy generation: the string lm-eval parses
 * (`key=value,key=value`), the keys that mean something for greedy decoding applied to every
 * `generate_until` request, and one line for any key that would need sampling.
 *
 * @module
 */

import { UserError } from "../core/errors.ts";
import type { Request } from "../core/requests.ts";

/** The generation settings kvbench honours. */
export interface GenKwargs {
  /** Tokens to generate at most, replacing each task's own. */
  maxGenToks?: number;
  /** Stop strings, replacing each task's own. */
  until?: string[];
}

/**
 * Parses lm-eval's `--gen_kwargs` string. `do_sample=false` and `temperature=0` are greedy and
 * accepted as such; any other sampling setting is refused, since kvbench decodes greedily.
 *
 * @throws {UserError} for a malformed pair, a bad value or a key greedy decoding can't honour.
 */
export function parseGenKwargs(text: string): GenKwargs {
  const out: GenKwargs = {};
  for (const pair of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq < 1) throw new UserError(`--gen_kwargs takes key=value pairs separated by commas (got "${pair}")`);
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    switch (key) {
      case "max_gen_toks": {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) {
          throw new UserError(`--gen_kwargs max_gen_toks must be a whole number ≥ 1 (got "${value}")`);
        }
        out.maxGenToks = n;
        break;
      }
      case "until":
        out.until = [value.replace(/^["']|["']$/g, "").replaceAll("\\n", "\n")];
        break;
      case "do_sample":
        if (!/^false$/i.test(value)) throw greedyOnly(pair);
        break;
      case "temperature":
        if (Number(value) !== 0) throw greedyOnly(pair);
        break;
      default:
        throw new UserError(
          `--gen_kwargs ${key} is not supported: kvbench decodes greedily and takes max_gen_toks, until, ` +
            "do_sample=false and temperature=0",
        );
    }
  }
  return out;
}

function greedyOnly(pair: string): UserError {
  return new UserError(`--gen_kwargs ${pair} asks for sampling: kvbench decodes greedily (do_sample=false)`);
}

/** `requests` with `kwargs` applied to every `generate_until` request. */
export function applyGenKwargs(requests: readonly Request[], kwargs: GenKwargs): Request[] {
  return requests.map((r) =>
    r.kind !== "generate_until" ? r : {
      ...r,
      ...(kwargs.maxGenToks !== undefined ? { maxGenToks: kwargs.maxGenToks } : {}),
      ...(kwargs.until !== undefined ? { until: kwargs.until } : {}),
    }
  );
}
