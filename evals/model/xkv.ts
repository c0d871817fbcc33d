/**
 * xKV (abdelfattah-lab/xKV): after a prompt's prefill, the keys (before RoPE) and the values of
 * each group of adjacent layers are laid side by side, across layers and heads, as one
 * `[tokens × (layers·heads·head_dim)]` matrix per kind and row; each is replaced by its truncated SVD
 * (`rank_k` for keys, `rank_v` for values) multiplied back, RoPE is applied to the keys again, and
 * decoding appends its tokens uncompressed. MLA layers get xKV's MLA mode: only their latents (the
 * `key` states) are compressed, at `rank_k`, and the RoPE parts are kept. As in the authors' code
 * this is a simulation: the cache keeps the dense reconstruction, and the bytes the factors would
 * take are counted beside it.
 *
 * The SVD is exact and deterministic (`low_rank.ts`), on the host in float64: fine for the zoo and
 * the fixtures, slow at scale (a 1B model's Gram matrix is `2048²` for a group of four layers; one
 * 1,024-token NIAH sample at `group=1` took 73 s against 7 s without the policy, two CPU cores).
 *
 * @module
 */

import { StateMismatchError, UserError } from "../../core/errors.ts";
import type { CachePolicy, PolicyBytes } from "./cache_policy.ts";
import { truncateRank } from "./low_rank.ts";
import { type OnnxModel, Tensor } from "./onnx_model.ts";
import type { Stream } from "./stream.ts";

/** xKV's settings. */
export interface XkvOptions {
  /** Adjacent layers per group (`layer_group_size`). */
  group: number;
  /** Rank kept of each group's keys. */
  rankK: number;
  /** Rank kept of each group's values. */
  rankV: number;
  /** First layer compressed. @default {0} */
  start: number;
  /** Layer after the last one compressed (null: to the last layer). @default {null} */
  end: number | null;
}

/**
 * Parses `group=G,rank_k=RK,rank_v=RV[,start=S,end=E]`.
 *
 * @throws {UserError} naming what is wrong in `spec`.
 */
export function parseXkvOptions(text: string, spec: string): XkvOptions {
  const fields = new Map<string, number>();
  for (const part of text.split(",").filter(Boolean)) {
    const [key, value] = part.split("=");
    const n = Number(value);
    if (!["group", "rank_k", "rank_v", "start", "end"].includes(key) || !Number.isInteger(n) || n < 0) {
      throw new UserError(
        `Cannot use --cache-policy ${spec}: "${part}" is not one of group=, rank_k=, rank_v=, start=, end= ` +
          "with a whole number (e.g. xkv:group=2,rank_k=16,rank_v=24)",
      );
    }
    fields.set(key, n);
  }
  for (const key of ["group", "rank_k", "rank_v"]) {
    if (!fields.has(key)) {
      throw new UserError(
        `Cannot use --cache-policy ${spec}: give ${key}= (e.g. xkv:group=2,rank_k=16,rank_v=24)`,
      );
    }
  }
  if (fields.get("group")! < 1) {
    throw new UserError(`Cannot use --cache-policy ${spec}: group must be at least 1`);
  }
  return {
    group: fields.get("group")!,
    rankK: fields.get("rank_k")!,
    rankV: fields.get("rank_v")!,
    start: fields.get("start") ?? 0,
    end: fields.get("end") ?? null,
  };
}

/**
 * Checks what the sidecar says of a model's layers against the options, before any session opens:
 * every layer must be `gqa` or `dma`, and the compressed layers within the model's.
 *
 * @throws {UserError} naming the model and what does not fit.
 */
export function checkXkvLayers(
  model: { dir: string; sidecar: { layers?: unknown[] } },
  options: XkvOptions,
  spec: string,
): void {
  const kinds = (model.sidecar.layers ?? []).map((l) => (l as { kind?: unknown }).kind);
  const refuse = (why: string) => new UserError(`Cannot use --cache-policy ${spec} on ${model.dir}: ${why}`);
  const other = kinds.findIndex((k) => typeof k !== "string" || !(k in MODES));
  if (other >= 0) {
    throw refuse(
      `its layer ${other} is of kind ${String(kinds[other])}; xKV rewrites gqa, dma and mla layers only`,
    );
  }
  const end = options.end ?? kinds.length;
  if (kinds.length > 0 && (options.start >= end || end > kinds.length)) {
    throw refuse(`layers ${options.start}..${end} are not within its ${kinds.length} layers`);
  }
  for (let first = options.start; first < end; first += options.group) {
    const modes = new Set(
      kinds.slice(first, Math.min(first + options.group, end)).map((k) => MODES[k as string]),
    );
    if (modes.size > 1) {
      throw refuse(
        `layers ${first}..${
          Math.min(first + options.group, end)
        } mix MLA and GQA caches; pick group, start and ` +
          "end so that each group holds one kind",
      );
    }
  }
}

/**
 * How each layer kind's cache is compressed: `kv`, keys (RoPE undone) and values; `latent`, only
 * an MLA layer's latent (its `key` state), leaving the RoPE part (`value`) as it is, as xKV's MLA
 * mode does.
 */
const MODES: Record<string, "kv" | "latent"> = { gqa: "kv", dma: "kv", mla: "latent" };

/** One layer's key and value states, and how its group compresses them. */
interface KvLayer {
  index: number;
  key: string;
  value: string;
  mode: "kv" | "latent";
}

/** The xKV cache policy for one model. */
export class XkvPolicy implements CachePolicy {
  readonly spec: string;
  readonly bytes: PolicyBytes = { stored: 0, simulated: 0, tokens: 0 };
  readonly #groups: KvLayer[][];
  readonly #invFreq: Float64Array;
  readonly #options: XkvOptions;

  private constructor(spec: string, groups: KvLayer[][], invFreq: Float64Array, options: XkvOptions) {
    this.spec = spec;
    this.#groups = groups;
    this.#invFreq = invFreq;
    this.#options = options;
  }

  /**
   * The policy for `model`, whose states must be per-layer pairs (`past_key_values.N.key` /
   * `.value`, `[batch, heads, tokens, width]`): keys (RoPE applied) and values of `gqa` and `dma`
   * layers, latent and RoPE key of `mla` layers, by the sidecar's `layers`; without a sidecar, a
   * pair of one shape is taken for keys and values (an MLA export's two parts differ in shape).
   *
   * @throws {UserError} when the model's cache is not of that kind or the layers don't fit.
   */
  static forModel(
    bundle: { model: OnnxModel; config: Record<string, unknown>; sidecar: { layers?: unknown[] } },
    options: XkvOptions,
    spec: string,
  ): XkvPolicy {
    const { model, config, sidecar } = bundle;
    const refuse = (why: string) =>
      new UserError(`Cannot use --cache-policy ${spec} on ${model.dir}: ${why}`);
    checkXkvLayers({ dir: model.dir, sidecar }, options, spec);
    const layers = new Map<number, Partial<KvLayer>>();
    for (const s of model.states) {
      const match = /^past_key_values\.(\d+)\.(key|value)$/.exec(s.input);
      if (!match || s.kind !== "growing" || s.shape.length !== 4 || s.seqAxis !== 2) {
        throw refuse(
          `its state "${s.input}" is not a layer's keys or values [batch, kv_heads, tokens, head_dim]; ` +
            "xKV rewrites GQA and MLA caches only",
        );
      }
      const index = Number(match[1]);
      const layer = layers.get(index) ?? { index };
      layer[match[2] as "key" | "value"] = s.input;
      layers.set(index, layer);
    }
    const all = [...layers.values()].sort((a, b) => a.index! - b.index!) as KvLayer[];
    if (all.some((l) => !l.key || !l.value) || all.length === 0) {
      throw refuse("every layer needs a key and a value state");
    }
    // Without a sidecar a layer is GQA-style only if its keys and values have one shape (an MLA
    // export names its latent and RoPE parts the same way, in two shapes).
    const kinds = (sidecar.layers ?? []).map((l) => (l as { kind: string }).kind);
    const shapes = new Map(model.states.map((s) => [s.input, s.shape.join(",")]));
    for (const l of all) {
      if (kinds.length > 0) {
        l.mode = MODES[kinds[l.index]];
      } else if (shapes.get(l.key) === shapes.get(l.value)) {
        l.mode = "kv";
      } else {
        throw refuse(
          `layer ${l.index}'s keys and values differ in shape and no kvbench.json says what they are`,
        );
      }
    }
    const end = options.end ?? all.length;
    if (options.start >= end || end > all.length) {
      throw refuse(`layers ${options.start}..${end} are not within its ${all.length} layers`);
    }
    const groups: KvLayer[][] = [];
    for (let first = options.start; first < end; first += options.group) {
      groups.push(all.slice(first, Math.min(first + options.group, end)));
    }
    // RoPE is undone on GQA-style keys only: their head size sets its frequencies.
    const rotated = all.find((l) => l.mode === "kv");
    const headDim = rotated ? Number(model.states.find((s) => s.input === rotated.key)!.shape[3]) : 2;
    return new XkvPolicy(spec, groups, ropeInvFreq(headDim, config), options);
  }

  apply(stream: Stream): Stream {
    this.bytes.tokens += stream.realCounts.reduce((a, b) => a + b, 0);
    const states = new Map(stream.states);
    for (const group of this.#groups) {
      const latent = group[0].mode === "latent";
      for (const kind of latent ? ["key"] as const : ["key", "value"] as const) {
        const names = group.map((l) => l[kind]);
        const rewritten = this.#compress(
          stream,
          names.map((n) => states.get(n)!),
          kind === "key" ? this.#options.rankK : this.#options.rankV,
          kind === "key" && !latent,
        );
        names.forEach((n, i) => {
          if (rewritten[i] === null) return;
          states.get(n)!.dispose();
          states.set(n, rewritten[i]!);
        });
      }
    }
    return stream.withStates(states);
  }

  /**
   * The group's tensors (one per layer, `[B, H, T, D]`) with each row's real tokens replaced by their
   * rank-`rank` reconstruction across layers and heads; null for a tensor left as it was (no row
   * needed truncation).
   */
  #compress(stream: Stream, tensors: Tensor[], rank: number, rope: boolean): (Tensor | null)[] {
    const [rows, heads, slots, dim] = tensors[0].dims;
    if (
      tensors.some((t) =>
        t.dims[0] !== rows || t.dims[1] !== heads || t.dims[2] !== slots || t.dims[3] !== dim
      )
    ) {
      throw new StateMismatchError("Cannot group layers whose caches differ in shape for xKV");
    }
    const elementBytes = tensors[0].type === "float16" ? 2 : 4;
    const values = tensors.map(readFloat64);
    const cols = tensors.length * heads * dim;
    let changed = false;
    for (let r = 0; r < rows; r++) {
      const real: number[] = [];
      for (let j = 0; j < slots; j++) if (stream.mask[r * stream.pastLen + j] === 1) real.push(j);
      const n = real.length;
      if (n === 0) continue;
      this.bytes.stored += n * cols * elementBytes;
      const kept = Math.min(rank, n, cols);
      this.bytes.simulated += (n * kept + kept + kept * cols) * elementBytes;
      if (rank >= Math.min(n, cols)) continue;
      changed = true;
      // Token t's row: layer-major, then head, then dimension; keys rotated back to no RoPE.
      const x = new Float64Array(n * cols);
      real.forEach((slot, t) => {
        values.forEach((v, l) => {
          for (let h = 0; h < heads; h++) {
            const at = ((r * heads + h) * slots + slot) * dim;
            const row = x.subarray(t * cols + (l * heads + h) * dim, t * cols + (l * heads + h + 1) * dim);
            row.set(v.subarray(at, at + dim));
            if (rope) this.#rotate(row, t, -1);
          }
        });
      });
      const y = truncateRank({ rows: n, cols, data: x }, rank).data;
      real.forEach((slot, t) => {
        values.forEach((v, l) => {
          for (let h = 0; h < heads; h++) {
            const row = y.subarray(t * cols + (l * heads + h) * dim, t * cols + (l * heads + h + 1) * dim);
            if (rope) this.#rotate(row, t, 1);
            v.set(row, ((r * heads + h) * slots + slot) * dim);
          }
        });
      });
    }
    if (!changed) return tensors.map(() => null);
    return tensors.map((t, i) => Tensor.fromHost(t.type, encode(values[i], t.type), t.dims));
  }

  /** Rotate-half RoPE at `position` (`sign` 1) or its inverse (`sign` -1), in place. */
  #rotate(x: Float64Array, position: number, sign: 1 | -1): void {
    const half = x.length / 2;
    for (let i = 0; i < half; i++) {
      const angle = position * this.#invFreq[i];
      const c = Math.cos(angle);
      const s = sign * Math.sin(angle);
      const a = x[i];
      const b = x[i + half];
      x[i] = a * c - b * s;
      x[i + half] = b * c + a * s;
    }
  }
}

/**
 * RoPE's inverse frequencies `theta^(-2i/dim)` for the model's `config.json` (`rope_theta`, and Llama
 * 3's `rope_scaling`, as scripts/families/common.py's `rope_inv_freq`).
 */
export function ropeInvFreq(dim: number, config: Record<string, unknown>): Float64Array {
  const theta = Number(config.rope_theta ?? 10000);
  const inv = Float64Array.from({ length: dim / 2 }, (_, i) => 1 / theta ** ((2 * i) / dim));
  const scaling = config.rope_scaling as Record<string, number | string> | null | undefined;
  if (!scaling) return inv;
  const kind = scaling.rope_type ?? scaling.type;
  if (kind !== "llama3") {
    throw new UserError(`Cannot use xKV with rope_scaling type ${kind}: only "llama3" is implemented`);
  }
  const factor = Number(scaling.factor);
  const low = Number(scaling.low_freq_factor);
  const high = Number(scaling.high_freq_factor);
  const context = Number(scaling.original_max_position_embeddings);
  return inv.map((f) => {
    const wavelength = (2 * Math.PI) / f;
    if (wavelength < context / high) return f;
    if (wavelength > context / low) return f / factor;
    const smooth = (context / wavelength - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

function readFloat64(tensor: Tensor): Float64Array {
  const bytes = tensor.hostBytes();
  if (tensor.type === "float32") return Float64Array.from(new Float32Array(bytes.buffer));
  if (tensor.type === "float16") return Float64Array.from(new Float16Array(bytes.buffer));
  throw new StateMismatchError(`Cannot compress a ${tensor.type} state: expected float32 or float16`);
}

function encode(values: Float64Array, type: string): Uint8Array<ArrayBuffer> {
  const typed = type === "float16" ? Float16Array.from(values) : Float32Array.from(values);
  return new Uint8Array(typed.buffer);
}
