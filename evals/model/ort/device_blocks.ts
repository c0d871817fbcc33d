/**
 * Device memory the engine frees, kept for its next allocation of about the same size, as
 * PyTorch's caching allocator keeps it. Scoring a batch allocates and frees some seventy device
 * tensors (the context's cache buffers, their copies for the continuation rows, each call's
 * logits); through `cudaMalloc` and `cudaFree` (which waits for the device) each costs tens to
 * hundreds of microseconds. A block comes back only where every queued use of it has ended: the
 * engine's copies wait for the device and ONNX Runtime's runs end synchronised.
 *
 * @module
 */

/** A block of device memory: its address and its size in bytes. */
export interface Block {
  /** Start address. */
  ptr: Deno.PointerValue;
  /** Size in bytes (at least what was asked). */
  bytes: number;
}

/** A block is reused for a request of at least this fraction of its size (a quarter wasted at most). */
const FIT = 0.75;

/** Blocks freed and kept for reuse, within a byte limit. */
export class BlockPool {
  // Idle blocks, oldest first: the oldest go first when the limit is passed.
  readonly #idle: Block[] = [];
  #idleBytes = 0;
  readonly #allocate: (bytes: number) => Deno.PointerValue;
  readonly #release: (ptr: Deno.PointerValue) => void;
  /** Most bytes kept idle; a larger block is released at once. */
  readonly limitBytes: number;

  /** A pool over `allocate` and `release` (cudaMalloc and cudaFree) keeping at most `limitBytes` idle. */
  constructor(
    allocate: (bytes: number) => Deno.PointerValue,
    release: (ptr: Deno.PointerValue) => void,
    limitBytes: number,
  ) {
    this.#allocate = allocate;
    this.#release = release;
    this.limitBytes = limitBytes;
  }

  /** Bytes held idle now. */
  get idleBytes(): number {
    return this.#idleBytes;
  }

  /**
   * A block of at least `bytes`: the smallest idle one it fits (using three quarters of it or
   * more), else a new one; when allocating fails, the idle blocks are released and it is tried once
   * more.
   */
  take(bytes: number): Block {
    let best = -1;
    this.#idle.forEach((block, i) => {
      if (
        block.bytes >= bytes && bytes >= block.bytes * FIT &&
        (best < 0 || block.bytes < this.#idle[best].bytes)
      ) {
        best = i;
      }
    });
    if (best >= 0) {
      const [block] = this.#idle.splice(best, 1);
      this.#idleBytes -= block.bytes;
      return block;
    }
    try {
      return { ptr: this.#allocate(bytes), bytes };
    } catch (error) {
      if (this.#idle.length === 0) throw error;
      this.drain();
      return { ptr: this.#allocate(bytes), bytes };
    }
  }

  /** Takes `block` back: kept idle while within the limit (the oldest idle ones released to make room). */
  give(block: Block): void {
    if (block.bytes > this.limitBytes) {
      this.#release(block.ptr);
      return;
    }
    this.#idle.push(block);
    this.#idleBytes += block.bytes;
    while (this.#idleBytes > this.limitBytes) {
      const oldest = this.#idle.shift()!;
      this.#idleBytes -= oldest.bytes;
      this.#release(oldest.ptr);
    }
  }

  /** Releases every idle block. */
  drain(): void {
    for (const block of this.#idle.splice(0)) this.#release(block.ptr);
    this.#idleBytes = 0;
  }
}
