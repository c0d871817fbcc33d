/**
 * Cache policies: rewrites of a stream's state after its prompt's prefill, for methods that change
 * what the cache holds rather than the model (xKV's cross-layer SVD; later streaming windows or
 * token eviction, one file each). A policy names itself (the run records it) and counts the bytes
 * the state holds beside the bytes its compressed form would take, so a simulated saving is never
 * mistaken for a real one.
 *
 * @module
 */

import { UserError } from "../../core/errors.ts";
import type { ModelBundle } from "./bundle.ts";
import type { Stream } from "./stream.ts";
import { checkXkvLayers, parseXkvOptions, XkvPolicy } from "./xkv.ts";

/** What a policy has seen: bytes of the state it rewrote as held, and as its compressed form. */
export interface PolicyBytes {
  /** Bytes of the rewritten states as the cache holds them (dense, unchanged in size). */
  stored: number;
  /** Bytes the policy's compressed form of the same states would take (not held: simulated). */
  simulated: number;
  /** Tokens (of all rows) whose state was rewritten. */
  tokens: number;
}

/**
 * The cache bytes per token the policy's compressed form would take, for a model whose state holds
 * `bytesPerToken` (null before the policy has rewritten anything).
 */
export function simulatedBytesPerToken(bytes: PolicyBytes, bytesPerToken: number): number | null {
  if (bytes.tokens === 0) return null;
  return bytesPerToken - (bytes.stored - bytes.simulated) / bytes.tokens;
}

/** A rewrite of a stream's state after prefill. */
export interface CachePolicy {
  /** The policy as the run names it, e.g. `xkv:group=2,rank_k=16,rank_v=24`. */
  readonly spec: string;
  /** Totals over every stream the policy has rewritten. */
  readonly bytes: PolicyBytes;
  /** The stream with its state rewritten; `stream` is consumed (use only the returned one). */
  apply(stream: Stream): Stream;
}

/** Policy kinds and their option syntax, for help texts and errors. */
export const CACHE_POLICIES = {
  xkv: "xkv:group=G,rank_k=RK,rank_v=RV[,start=S,end=E]",
} as const;

/** What a policy reads of a model: the graph, its config.json and its sidecar. */
export type PolicyTarget = Pick<ModelBundle, "model" | "config" | "sidecar">;

/**
 * The policy `spec` names for a model.
 *
 * @throws {UserError} for an unknown policy, bad options, or a model the policy can't rewrite.
 */
export function openCachePolicy(spec: string, target: PolicyTarget): CachePolicy {
  const [kind, options = ""] = splitSpec(spec);
  if (kind === "xkv") return XkvPolicy.forModel(target, parseXkvOptions(options, spec), spec);
  throw unknownPolicy(spec);
}

/**
 * Checks `spec`'s syntax, and with `model` what its sidecar says against it, without opening a
 * session, so a mistake is refused before any work starts.
 *
 * @throws {UserError} for an unknown policy, bad options, or a model the policy can't rewrite.
 */
export function checkCachePolicy(
  spec: string,
  model?: Pick<PolicyTarget, "sidecar"> & { dir: string },
): void {
  const [kind, options = ""] = splitSpec(spec);
  if (kind !== "xkv") throw unknownPolicy(spec);
  const parsed = parseXkvOptions(options, spec);
  if (model?.sidecar?.graph === "static") throw staticCache(spec, model.dir);
  if (model) checkXkvLayers(model, parsed, spec);
}

/** The refusal of a policy on a static cache, which is written in place and can't be swapped. */
export function staticCache(spec: string, model: string): UserError {
  return new UserError(
    `Cannot use --cache-policy ${spec} on ${model}: its cache is static (preallocated, written in place), and ` +
      "a policy rewrites a growing one: export the model with --graph fused",
  );
}

function splitSpec(spec: string): [string, string | undefined] {
  const colon = spec.indexOf(":");
  return colon < 0 ? [spec, undefined] : [spec.slice(0, colon), spec.slice(colon + 1)];
}

function unknownPolicy(spec: string): UserError {
  return new UserError(
    `Cannot use --cache-policy ${spec}: known policies are ${Object.values(CACHE_POLICIES).join(", ")}`,
  );
}
