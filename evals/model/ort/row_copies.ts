/**
 * How rows of many equally-laid-out tensors are copied in few calls. A scoring batch copies its
 * contexts' cache rows for their continuations: 32 rows of 32 state tensors was ~1,024 copies, each
 * one CUDA runtime call through FFI (40 ms of a 200 ms round on an H200). Tensors that one block
 * holds at a constant stride (`Session.emptyMany`) share their row runs, so one two-dimensional copy
 * (a block per tensor, one pitch apart) moves a run of rows in all of them.
 *
 * @module
 */

/**
 * `height` blocks of `width` bytes, block k from `src + k × srcPitch` to `dst + k × dstPitch` (a
 * plain copy has height 1). Addresses are raw: host or device, as the executor knows.
 */
export interface BlockCopy {
  /** First destination address. */
  dst: bigint;
  /** First source address. */
  src: bigint;
  /** Bytes in each block. */
  width: number;
  /** Number of blocks. */
  height: number;
  /** Bytes from one destination block to the next (at least `width` where height > 1). */
  dstPitch: number;
  /** Bytes from one source block to the next (at least `width` where height > 1). */
  srcPitch: number;
}

/** A tensor whose rows (axis 0) are copied: its address, bytes per row and rows. */
export interface RowTensor {
  /** Address of its first byte. */
  address: bigint;
  /** Bytes in one row. */
  rowBytes: number;
  /** Number of rows. */
  rows: number;
}

/**
 * Maximal runs of `indices` that are consecutive in both source and result: row `from + i` goes
 * to result row `to + i` for i < `rows`.
 */
export function rowRuns(indices: readonly number[]): { from: number; to: number; rows: number }[] {
  const runs: { from: number; to: number; rows: number }[] = [];
  indices.forEach((row, r) => {
    const last = runs.at(-1);
    if (last && last.from + last.rows === row) last.rows++;
    else runs.push({ from: row, to: r, rows: 1 });
  });
  return runs;
}

/**
 * The copies that put rows `indices` of each of `sources` into the tensor at `results[i]` (of
 * `indices.length` rows each). Sources of the same row size whose addresses, and their results'
 * addresses, step by a constant stride (each at least the tensor's size, at most `maxPitch`) share
 * one copy per run of rows; others get one copy per run each.
 */
export function planRowCopies(
  sources: readonly RowTensor[],
  results: readonly bigint[],
  indices: readonly number[],
  maxPitch: number,
): BlockCopy[] {
  if (sources.length !== results.length) {
    throw new RangeError(`Cannot copy rows of ${sources.length} tensors into ${results.length}`);
  }
  for (const s of sources) {
    const beyond = indices.find((i) => i < 0 || i >= s.rows);
    if (beyond !== undefined) throw new RangeError(`Cannot copy row ${beyond} of a ${s.rows}-row tensor`);
  }
  const runs = rowRuns(indices);
  const copies: BlockCopy[] = [];
  for (const chain of strideChains(sources, results, indices.length, maxPitch)) {
    const first = chain.members[0];
    const { rowBytes } = sources[first];
    if (rowBytes === 0) continue;
    for (const run of runs) {
      copies.push({
        dst: results[first] + BigInt(run.to * rowBytes),
        src: sources[first].address + BigInt(run.from * rowBytes),
        width: run.rows * rowBytes,
        height: chain.members.length,
        dstPitch: chain.dstStride,
        srcPitch: chain.srcStride,
      });
    }
  }
  return copies;
}

/** Tensors (by index) copied together: each the previous one's addresses plus the strides. */
interface Chain {
  members: number[];
  srcStride: number;
  dstStride: number;
}

/**
 * Sources grouped by row size, each group split, in order, into chains of constant strides. A
 * chain of one has strides equal to its widest copy (any pitch is valid for one block).
 */
function strideChains(
  sources: readonly RowTensor[],
  results: readonly bigint[],
  resultRows: number,
  maxPitch: number,
): Chain[] {
  const bySize = new Map<number, number[]>();
  sources.forEach((s, i) => bySize.set(s.rowBytes, [...(bySize.get(s.rowBytes) ?? []), i]));
  const chains: Chain[] = [];
  for (const members of bySize.values()) {
    let chain: Chain | null = null;
    for (const i of members) {
      const { rowBytes, rows } = sources[i];
      if (chain !== null) {
        const last = chain.members.at(-1)!;
        const srcStride = Number(sources[i].address - sources[last].address);
        const dstStride = Number(results[i] - results[last]);
        const fits = srcStride >= rows * rowBytes && dstStride >= resultRows * rowBytes &&
          srcStride <= maxPitch && dstStride <= maxPitch;
        if (chain.members.length === 1 && fits) {
          chain.srcStride = srcStride;
          chain.dstStride = dstStride;
          chain.members.push(i);
          continue;
        }
        if (chain.members.length > 1 && srcStride === chain.srcStride && dstStride === chain.dstStride) {
          chain.members.push(i);
          continue;
        }
      }
      const widest = Math.max(rows, resultRows) * rowBytes;
      chain = { members: [i], srcStride: widest, dstStride: widest };
      chains.push(chain);
    }
  }
  return chains;
}

/** Runs `copies` whose addresses are host memory (the CPU provider's tensors). */
export function copyOnHost(copies: readonly BlockCopy[]): void {
  for (const c of copies) {
    if (c.width === 0) continue;
    for (let k = 0; k < c.height; k++) {
      const from = Deno.UnsafePointer.create(c.src + BigInt(k * c.srcPitch));
      const to = Deno.UnsafePointer.create(c.dst + BigInt(k * c.dstPitch));
      new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(to!, c.width)).set(
        new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(from!, c.width)),
      );
    }
  }
}
