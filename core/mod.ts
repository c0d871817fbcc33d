/**
 * The contracts every layer of kvbench shares: what a task asks of a model (requests and their
 * responses), the error a user sees as one line, seeded random streams, and the shape of a task.
 *
 * @example A request and the seeded stream synthetic tasks draw from
 * ```ts
 * import { Rng, type TokenArgmaxRequest } from "./mod.ts";
 * const rng = new Rng(1234);
 * const tokens = Array.from({ length: 8 }, () => rng.int(3, 100));
 * const request: TokenArgmaxRequest = { kind: "token_argmax", tokens, positions: [7] };
 * if (request.tokens.length !== 8 || new Rng(1234).int(3, 100) !== tokens[0]) throw new Error("not seeded");
 * ```
 *
 * @module
 */

export { ModelRunError, StateMismatchError, UserError } from "./errors.ts";
export * from "./requests.ts";
export { Rng, seedFrom } from "./random.ts";
export type {
  MetricSpec,
  Prepared,
  SampleValue,
  SyntheticOptions,
  Task,
  TaskContext,
  TaskGroup,
} from "./tasks.ts";
export { syntheticOptions } from "./tasks.ts";
export { PLAIN, type Prompting } from "./prompting.ts";
