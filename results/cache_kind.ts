/**
 * How a model got its KV cache: the leaderboard's grouping and the accuracy figure's colour. Families
 * are many and say little to a reader, but whether a cache was converted, trained natively, hybrid,
 * sparse or a runtime policy is what the report compares.
 *
 * @module
 */

/** The kinds of cache, in legend order. */
export const CACHE_KINDS = [
  "baseline",
  "converted MLA",
  "native MLA",
  "hybrid",
  "sparse",
  "runtime policy",
  "other",
] as const;

/** One kind of cache. */
export type CacheKind = (typeof CACHE_KINDS)[number];

const KIND_OF: Record<string, CacheKind> = {
  llama: "baseline",
  transmla: "converted MLA",
  xecomla: "converted MLA",
  deepseek_v2: "native MLA",
  deepseek_v3: "native MLA",
  kimi_k2: "native MLA",
  minicpm3: "native MLA",
  plm: "native MLA",
  mla: "native MLA",
  zebra: "hybrid",
  dma: "sparse",
  tpla: "runtime policy",
  xkv: "runtime policy",
};

/** The kind of cache of a model of `family`; "other" for an unknown family or none. */
export function cacheKind(family: string | null | undefined): CacheKind {
  // Own properties only, so a family named "constructor" or "toString" is "other" too.
  return family != null && Object.hasOwn(KIND_OF, family) ? KIND_OF[family] : "other";
}
