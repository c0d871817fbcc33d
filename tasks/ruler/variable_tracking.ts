/**
 * RULER's variable tracking (`scripts/data/synthetic/variable_tracking.py`): a chain of
 * assignments `VAR A = 12345`, `VAR B = VAR A `, … hidden between noise lines; the answer is
 * every variable holding the value. One worked example (built to 500 tokens, with 3-letter
 * names and value 12345, then renamed and revalued for each sample) comes first.
 *
 * ```
 * [example: template(noise + chain, 12345) + answer prefix + " A B C D E"]⏎
 * template(NOISE⏎VAR QWERT = 48213⏎NOISE⏎VAR ASDFG = VAR QWERT ⏎…, value) + answer prefix
 * ```
 *
 * Units are noise lines.
 *
 * @module
 */

import type { Rng } from "../../core/random.ts";
import type { TaskContext } from "../../core/tasks.ts";
import { fitUnits, tokenCounter } from "./_budget.ts";
import { distinctStrings, fill, sampleRng } from "./_draw.ts";
import { NOISE } from "./_haystack.ts";
import type { Generated, LengthGenerator, RulerSpec } from "./_task.ts";

/** RULER's variable-tracking template, without the answer prefix. */
export const VT_TEMPLATE =
  "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\nQuestion: Find all variables that are assigned the value {query} in the text above.";

/** RULER's variable-tracking answer prefix. */
export const VT_ANSWER_PREFIX =
  " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are assigned the value {query}, they are: ";

/** Tokens RULER lets the model generate for variable tracking. */
export const VT_TOKENS = 30;

/** The length RULER builds its worked example to. */
export const VT_EXAMPLE_TOKENS = 500;

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** One variable-tracking configuration. */
export interface VtParams {
  numChains: number;
  numHops: number;
}

/** Chains of assignments: the variables of each chain and its lines. */
export function makeChains(
  rng: Rng,
  params: VtParams,
  example: boolean,
): { vars: string[][]; chains: string[][] } {
  const letters = example ? 3 : 5;
  const hops = example ? Math.min(10, params.numHops) : params.numHops;
  const all = distinctStrings(rng, (hops + 1) * params.numChains, letters, UPPER);
  const vars: string[][] = [];
  const chains: string[][] = [];
  for (let c = 0; c < params.numChains; c++) {
    const names = all.slice(c * (hops + 1), (c + 1) * (hops + 1));
    // numpy's randint(10000, 99999) excludes its upper end.
    const value = example ? "12345" : String(rng.int(10000, 99999));
    const lines = [`VAR ${names[0]} = ${value}`];
    for (let j = 0; j < hops; j++) lines.push(`VAR ${names[j + 1]} = VAR ${names[j]} `);
    vars.push(names);
    chains.push(lines);
  }
  return { vars, chains };
}

/**
 * Builds the text of `n` noise lines with the chains inserted at random lines, each chain in
 * order, filled into the template. The answer is the first chain's variables.
 */
export function vtText(params: VtParams, n: number, rng: Rng, example: boolean): Generated {
  const { vars, chains } = makeChains(rng, params, example);
  const value = chains[0][0].split("=").at(-1)!.trim();
  const lines = Array<string>(n).fill(NOISE);
  for (const chain of chains) {
    const positions = rng.sampleRange(0, lines.length, chain.length).sort((a, b) => a - b);
    positions.forEach((p, j) => lines.splice(p + j, 0, chain[j]));
  }
  const context = lines.join("\n").replaceAll(". \n", ".\n");
  const hops = example ? Math.min(10, params.numHops) : params.numHops;
  const input = fill(VT_TEMPLATE + VT_ANSWER_PREFIX, { context, query: value, num_v: hops + 1 });
  return { input, outputs: vars[0] };
}

/** RULER's `randomize_icl`: fresh names (same lengths) for the example's answer, and a fresh value. */
export function randomizeExample(example: string, numHops: number, rng: Rng): string {
  const names = example.trim().split(/\s+/).slice(-numHops - 1);
  let out = example;
  for (const name of names) {
    let fresh = "";
    for (let i = 0; i < name.length; i++) fresh += UPPER[rng.int(0, 26)];
    out = out.replaceAll(name, fresh);
  }
  return out.replaceAll("12345", String(rng.int(10000, 99999)));
}

/** The spec of RULER's `vt`. */
export function vtSpec(name: string, params: VtParams): RulerSpec {
  return {
    name,
    version: 1,
    tokensToGenerate: VT_TOKENS,
    metric: "string_match_all",
    config() {
      return {
        generator: "variable_tracking",
        template: VT_TEMPLATE,
        answer_prefix: VT_ANSWER_PREFIX,
        type_haystack: "noise",
        num_chains: params.numChains,
        num_hops: params.numHops,
        add_fewshot: true,
        example_tokens: VT_EXAMPLE_TOKENS,
      };
    },
    setup(ctx: TaskContext) {
      const tokens = tokenCounter(ctx, name);
      const minLines = params.numHops + 1;
      // The worked example: as big as fits in 500 tokens, with nothing to generate; RULER falls
      // back to its smallest size when even that is over.
      const build = (n: number) => vtText(params, n, sampleRng(name, "example", ctx.seed), true);
      const fitted = fitUnits(build, (g) => tokens(g.input), VT_EXAMPLE_TOKENS, minLines)?.value ??
        build(minLines);
      const example = `${fitted.input} ${fitted.outputs.join(" ")}\n`;
      return Promise.resolve((length: number): LengthGenerator => ({
        minUnits: () => minLines,
        build: (n, index) => {
          const rng = sampleRng(name, length, ctx.seed, index);
          const sample = vtText(params, n, rng, false);
          return { ...sample, input: `${randomizeExample(example, params.numHops, rng)}\n${sample.input}` };
        },
      }));
    },
  };
}
