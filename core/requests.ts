/**
 * Request and response types, and lm-eval's rules for turning text requests into token
 * requests. Pure functions: the model is run in `lm.ts`.
 *
 * @module
 */

import { pyRstrip } from "./python_text.ts";

/** Score `continuation` given `context` (lm-eval's `loglikelihood`). */
export interface LoglikelihoodRequest {
  kind: "loglikelihood";
  context: string;
  continuation: string;
}

/** Score a whole text in disjoint windows (lm-eval's `loglikelihood_rolling`). */
export interface RollingRequest {
  kind: "loglikelihood_rolling";
  text: string;
}

/** Greedy generation until a stop string (lm-eval's `generate_until`). */
export interface GenerateRequest {
  kind: "generate_until";
  context: string;
  until: string[];
  maxGenToks: number;
}

/** Greedy next-token predictions at given positions of a raw token sequence (MQAR). */
export interface TokenArgmaxRequest {
  kind: "token_argmax";
  tokens: number[];
  /** Positions whose next-token prediction is wanted: the prediction for `tokens[p + 1]`. */
  positions: number[];
}

/** Any request a task can make. */
export type Request =
  | LoglikelihoodRequest
  | RollingRequest
  | GenerateRequest
  | TokenArgmaxRequest;

/** Result of a `loglikelihood` request. */
export interface LoglikelihoodResponse {
  kind: "loglikelihood";
  logprob: number;
  isGreedy: boolean;
}

/** Result of a `loglikelihood_rolling` request. */
export interface RollingResponse {
  kind: "loglikelihood_rolling";
  logprob: number;
  /** Tokens scored. */
  tokens: number;
}

/** Result of a `generate_until` request. */
export interface GenerateResponse {
  kind: "generate_until";
  text: string;
  /**
   * Tokens the model produced for it: those of `text`, those cut off at the stop string, and the
   * end-of-sequence token that ended it, if one did (what another engine must generate to match).
   */
  tokens?: number;
}

/** Result of a `token_argmax` request. */
export interface TokenArgmaxResponse {
  kind: "token_argmax";
  predictions: number[];
}

/** Any response; `Response<R>` picks the one for request type `R`. */
export type AnyResponse =
  | LoglikelihoodResponse
  | RollingResponse
  | GenerateResponse
  | TokenArgmaxResponse;

/** The response type that answers request type `R`. */
export type ResponseFor<R extends Request> = Extract<AnyResponse, { kind: R["kind"] }>;

/** A context/continuation pair in token ids. */
export interface TokenPair {
  context: number[];
  continuation: number[];
}

/** What `encodePair` needs of a tokenizer. */
export interface Encoder {
  encode(text: string, addBos?: boolean): number[];
  readonly prefixTokenId: number;
}

/**
 * Tokenizes a loglikelihood request the way lm-eval's `TemplateLM` does: trailing whitespace of
 * the context moves into the continuation, context+continuation are encoded together and split
 * at the context's token length, and an empty context becomes the prefix token (BOS, else EOS).
 */
export function encodePair(
  encoder: Encoder,
  context: string,
  continuation: string,
  addBos: boolean,
): TokenPair {
  if (context.length === 0) {
    return { context: [encoder.prefixTokenId], continuation: encoder.encode(continuation, false) };
  }
  // Python's rstrip, not JS trimEnd: the two disagree on a few code points (U+001C–U+001F,
  // U+0085, U+FEFF), and lm-eval's split is Python's.
  const trimmed = pyRstrip(context);
  const spaces = context.length - trimmed.length;
  if (spaces > 0) {
    continuation = context.slice(trimmed.length) + continuation;
    context = trimmed;
  }
  const whole = encoder.encode(context + continuation, addBos);
  const contextIds = encoder.encode(context, addBos);
  return { context: contextIds, continuation: whole.slice(contextIds.length) };
}

/**
 * lm-eval's rolling windows with context length 1, made disjoint: each token of `tokens` is
 * predicted exactly once; the first window is prefixed with `prefixToken`; each window's input
 * is at most `maxLength` tokens.
 */
export function rollingWindows(
  tokens: readonly number[],
  prefixToken: number,
  maxLength: number,
): TokenPair[] {
  if (maxLength < 1) throw new RangeError(`Cannot make rolling windows of length ${maxLength}`);
  const windows: TokenPair[] = [];
  if (tokens.length === 0) return windows;
  const first = Math.min(maxLength, tokens.length);
  windows.push({ context: [prefixToken], continuation: tokens.slice(0, first) });
  let predicted = first;
  while (predicted < tokens.length) {
    const count = Math.min(tokens.length - predicted, maxLength);
    const end = predicted + count;
    const input = tokens.slice(Math.max(end - maxLength - 1, 0), end - 1);
    const target = tokens.slice(end - count, end);
    windows.push({ context: input.slice(0, input.length - (target.length - 1)), continuation: target });
    predicted += count;
  }
  return windows;
}

/** The `arguments` field lm-eval logs for a doc's requests: `gen_args_{i}` per request. */
export function lmEvalArguments(requests: readonly Request[]): Record<string, Record<string, unknown>> {
  const args: Record<string, Record<string, unknown>> = {};
  requests.forEach((request, i) => {
    args[`gen_args_${i}`] = requestArguments(request);
  });
  return args;
}

function requestArguments(request: Request): Record<string, unknown> {
  switch (request.kind) {
    case "loglikelihood":
      return { arg_0: request.context, arg_1: request.continuation };
    case "loglikelihood_rolling":
      return { arg_0: request.text };
    case "generate_until":
      return {
        arg_0: request.context,
        arg_1: { until: request.until, max_gen_toks: request.maxGenToks, do_sample: false },
      };
    case "token_argmax":
      return { arg_0: request.tokens, arg_1: request.positions };
  }
}

/** A response as lm-eval logs it in `filtered_resps`: `[logprob, is_greedy]`, a number or a string. */
export function lmEvalResponse(response: AnyResponse): unknown {
  switch (response.kind) {
    case "loglikelihood":
      return [response.logprob, response.isGreedy];
    case "loglikelihood_rolling":
      return response.logprob;
    case "generate_until":
      return response.text;
    case "token_argmax":
      return response.predictions;
  }
}
