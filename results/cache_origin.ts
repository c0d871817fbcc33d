/**
 * How a model got its cache, the report's grouping: trained with MLA, converted to MLA, a hybrid
 * with recurrent layers, sparse attention, or the GQA baseline. Read from the family its sidecar
 * names; families kvbench doesn't know group as `other`.
 *
 * @module
 */

/** A cache origin, in the order the report lists them. */
export type CacheOrigin = "native MLA" | "converted MLA" | "hybrid" | "sparse" | "baseline" | "other";

/** The origins in report order. */
export const CACHE_ORIGINS: readonly CacheOrigin[] = [
  "native MLA",
  "converted MLA",
  "hybrid",
  "sparse",
  "baseline",
  "other",
];

const BY_FAMILY: Record<string, CacheOrigin> = {
  deepseek_v2: "native MLA",
  deepseek_v3: "native MLA",
  minicpm3: "native MLA",
  plm: "native MLA",
  transmla: "converted MLA",
  xecomla: "converted MLA",
  zebra: "hybrid",
  dma: "sparse",
  llama: "baseline",
};

/** The origin of a model of `family` (`other` for an unknown or missing family). */
export function cacheOrigin(family: string | null): CacheOrigin {
  return (family !== null && BY_FAMILY[family]) || "other";
}
