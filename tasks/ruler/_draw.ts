/**
 * The draws the long-context generators make, on top of the seeded {@linkcode Rng}: shuffles,
 * samples without replacement, and the random keys and values RULER puts in its needles.
 *
 * @module
 */

import { Rng, seedFrom } from "../../core/random.ts";

/** A fresh generator for one sample: the same parts always give the same stream. */
export function sampleRng(...parts: (string | number)[]): Rng {
  return new Rng(seedFrom(parts.join(":")));
}

/** A shuffled copy of `items` (Fisher–Yates). */
export function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** `k` distinct elements of `items`, in draw order (Python's `random.sample`). */
export function sample<T>(rng: Rng, items: readonly T[], k: number): T[] {
  return rng.sampleRange(0, items.length, k).map((i) => items[i]);
}

/** One element of `items`. */
export function choice<T>(rng: Rng, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError("Cannot choose from an empty list");
  return items[rng.int(0, items.length)];
}

/** A random number of `digits` digits, no leading zero, as RULER's needle values are. */
export function randomNumber(rng: Rng, digits = 7): string {
  return String(rng.int(10 ** (digits - 1), 10 ** digits));
}

/** A random version-4 UUID in its usual text form. */
export function randomUuid(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => rng.int(0, 16));
  hex[12] = 4;
  // The variant field: the two top bits of this nibble are 10.
  hex[16] = 8 + (hex[16] & 3);
  const s = hex.map((h) => h.toString(16)).join("");
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** `k` random strings of `length` letters from `alphabet`, all distinct. */
export function distinctStrings(rng: Rng, k: number, length: number, alphabet: string): string[] {
  const out = new Set<string>();
  if (alphabet.length ** length < k) {
    throw new RangeError(`Cannot draw ${k} distinct strings of ${length} letters from ${alphabet.length}`);
  }
  while (out.size < k) {
    let s = "";
    for (let i = 0; i < length; i++) s += alphabet[rng.int(0, alphabet.length)];
    out.add(s);
  }
  return [...out];
}

/** Substitutes `{name}` fields of `template` in one pass, so substituted text is never re-read. */
export function fill(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(
    /\{(\w+)\}/g,
    (whole, name: string) => (name in values ? String(values[name]) : whole),
  );
}
