// Wrapper of shaders/attention.wgsl: flash attention (causal, sliding window, grouped-query),
// forward and backward, and the KV-cache write.
//   q, dO, O, dq  [B, T, H*D]        query rows i at positions offset + i
//   k, v          [B, kvRows, KV*D]  key rows j < S (kvRows = maxT when they are a KV cache)
//   dk, dv        [B, S, KV*D]
//   lse, delta    [B, H, T]          row log-sum-exp L (saved by forward), Δ = rowsum(dO ⊙ O)
// Query i sees key j iff j ≤ offset + i and offset + i − j < window. Nothing [B, H, T, S] exists.
// The shader's MAXD (private per-invocation rows) is chosen per call: the smallest of 32, 64,
// 128, 256 that holds D; each is its own ShaderDef, compiled on first use. D > 256 is refused.
// Shapes are validated here (GpuError naming the kernel and the shapes); nothing reads back.

import source from '../../shaders/attention.wgsl?raw';
import { defineShader, type DispatchCost, type GpuContext, type ShaderDef } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError, InternalError } from '../errors';
import { gridFor } from './elementwise';

const WG = 64;
const HEAD_SIZES = [32, 64, 128, 256];
/** Largest head size D the kernels hold in their per-invocation rows. */
export const MAX_HEAD_SIZE = 256;
const MAXD_LINE = /const MAXD: u32 = \d+u;/;
const shaders = new Map<number, ShaderDef>();

function shaderFor(D: number): ShaderDef {
  const maxD = HEAD_SIZES.find((size) => D <= size) ?? MAX_HEAD_SIZE;
  let shader = shaders.get(maxD);
  if (!shader) {
    if (!MAXD_LINE.test(source)) throw new InternalError('shaders/attention.wgsl lost its `const MAXD: u32 = …u;` line');
    shader = defineShader(`attention_d${maxD}`, source.replace(MAXD_LINE, `const MAXD: u32 = ${maxD}u;`));
    shaders.set(maxD, shader);
  }
  return shader;
}

export interface AttentionShape {
  readonly B: number;
  /** Query rows. */
  readonly T: number;
  /** Keys attended by the last query row (= offset + T). */
  readonly S: number;
  /** Rows allocated per batch entry in the key/value tensors (S, or maxT for a cache). */
  readonly kvRows: number;
  /** Position of query row 0; query i attends keys j ≤ offset + i. */
  readonly offset: number;
  readonly H: number;
  readonly KV: number;
  readonly D: number;
  /** Sliding window: query i sees key j iff offset + i − j < window (≥ S: no window). */
  readonly window: number;
  /** Multiplier of q · k (1/√D in the usual attention). */
  readonly scale: number;
}

/** The shape of self-attention over one sequence of T tokens (training), without a window. */
export function selfAttentionShape(B: number, T: number, H: number, KV: number, D: number): AttentionShape {
  return { B, T, S: T, kvRows: T, offset: 0, H, KV, D, window: T, scale: 1 / Math.sqrt(D) };
}

function describeShape(s: AttentionShape): string {
  return `B=${s.B} T=${s.T} S=${s.S} kvRows=${s.kvRows} offset=${s.offset} H=${s.H} KV=${s.KV} D=${s.D} window=${s.window}`;
}

/** Throws a GpuError unless the shape is consistent. */
export function checkAttentionShape(kernel: string, s: AttentionShape): void {
  const fail = (message: string): never => {
    throw new GpuError(message, kernel, describeShape(s));
  };
  for (const [name, value] of Object.entries(s)) {
    if (name !== 'scale' && (!Number.isInteger(value) || value < 0)) fail(`${name} must be a non-negative integer`);
  }
  if (!Number.isFinite(s.scale)) fail(`scale must be finite, is ${s.scale}`);
  if (s.H < 1 || s.KV < 1 || s.D < 1 || s.window < 1) fail('H, KV, D and window must be positive');
  if (s.D > MAX_HEAD_SIZE) fail(`head size D = ${s.D} exceeds the ${MAX_HEAD_SIZE} the attention kernels support`);
  if (s.H % s.KV !== 0) fail(`H (${s.H}) must be a multiple of KV (${s.KV})`);
  if (s.S > s.kvRows) fail(`S (${s.S}) exceeds the ${s.kvRows} rows of the key/value tensors`);
  if (s.S !== s.offset + s.T) fail(`S must be offset + T (${s.offset + s.T})`);
}

type Layout = 'rows' | 'keys' | 'stats' | 'kvGrad';

function sizeOf(layout: Layout, s: AttentionShape): number[] {
  switch (layout) {
    case 'rows':
      return [s.B, s.T, s.H * s.D];
    case 'keys':
      return [s.B, s.kvRows, s.KV * s.D];
    case 'stats':
      return [s.B, s.H, s.T];
    case 'kvGrad':
      return [s.B, s.S, s.KV * s.D];
  }
}

type Binding = 'q' | 'k' | 'v' | 'dout' | 'lse' | 'delta' | 'dst' | 'dst2';
type Bound = Partial<Record<Binding, [GpuTensor, Layout]>>;

/**
 * Checks each tensor holds f32 data of its layout's element count and that outputs alias nothing.
 * `names` renames a binding in messages when it carries another tensor (O in the `q` slot).
 */
function checkTensors(kernel: string, s: AttentionShape, tensors: Bound, outputs: readonly Binding[], names: Partial<Record<Binding, string>> = {}): string {
  checkAttentionShape(kernel, s);
  const entries = (Object.entries(tensors) as [Binding, [GpuTensor, Layout]][]).map(([binding, value]) => [names[binding] ?? binding, value] as const);
  const label = `${kernel} ${entries.map(([name, [t]]) => `${name} ${t.describe()}`).join(', ')} (${describeShape(s)})`;
  for (const [name, [t, layout]] of entries) {
    const want = sizeOf(layout, s);
    if (t.dtype !== 'f32') throw new GpuError(`${name} must be f32, is ${t.dtype}`, kernel, label);
    if (t.size !== want.reduce((a, b) => a * b, 1)) throw new GpuError(`${name} must be [${want.join(',')}]`, kernel, label);
  }
  for (const out of outputs) {
    const buffer = tensors[out]?.[0].buffer;
    if (Object.entries(tensors).some(([name, entry]) => name !== out && entry[0].buffer === buffer)) {
      throw new GpuError(`${names[out] ?? out} must not alias another tensor`, kernel, label);
    }
  }
  return label;
}

const READ_ONLY = ['q', 'k', 'v', 'dout'] as const;
const WRITABLE = ['lse', 'delta', 'dst', 'dst2'] as const;

/**
 * Runs one entry point with every binding of the shader filled: unused read-only slots with the
 * shared placeholder, unused writable ones with 4-byte scratch tensors of their own (Dawn rejects
 * one buffer in two writable bindings of a dispatch, and in a read-only and a writable one).
 */
function dispatchWith(
  ctx: GpuContext,
  entryPoint: string,
  used: Partial<Record<Binding, GpuTensor>>,
  params: Record<string, number>,
  items: number,
  label: string,
  cost?: DispatchCost,
): void {
  const bindings = {} as Record<Binding, GpuTensor>;
  const spares: GpuTensor[] = [];
  for (const name of READ_ONLY) bindings[name] = used[name] ?? ctx.placeholder();
  for (const name of WRITABLE) {
    const t = used[name] ?? ctx.empty([1], 'f32', 'attention unused binding');
    if (!used[name]) spares.push(t);
    bindings[name] = t;
  }
  ctx.dispatch({ shader: shaderFor(params.D!), entryPoint, constants: { WG }, bindings, params, workgroups: gridFor(ctx, items, WG), label, cost });
  ctx.release(...spares);
}

/** Invocations of a kernel that gives each one a tile of 4 rows. */
function tiles(rows: number): number {
  return Math.ceil(rows / 4);
}

function run(ctx: GpuContext, entryPoint: string, items: number, s: AttentionShape, tensors: Bound, label: string): void {
  const used: Partial<Record<Binding, GpuTensor>> = {};
  for (const [name, entry] of Object.entries(tensors) as [Binding, [GpuTensor, Layout]][]) used[name] = entry[0];
  const params = {
    n: items,
    T: s.T,
    S: s.S,
    kvRows: s.kvRows,
    offset: s.offset,
    H: s.H,
    KV: s.KV,
    D: s.D,
    window: Math.max(1, Math.min(s.window, s.S)), // ≥ S is no window; clamped so j + window fits a u32
    scale: s.scale,
  };
  dispatchWith(ctx, entryPoint, used, params, items, label, attentionCost(entryPoint, s, used));
}

/** (query, key) pairs the mask lets through, summed over batch and heads. */
function visiblePairs(s: AttentionShape): number {
  const window = Math.max(1, Math.min(s.window, s.S));
  let pairs = 0;
  for (let i = 0; i < s.T; i++) pairs += Math.max(0, Math.min(s.offset + i + 1, window, s.S));
  return pairs * s.B * s.H;
}

// FLOPs per visible (query, key) pair, D the head size: forward q·k and p·v (4D) plus the online
// softmax (≈5); query gradient: q·k again, dO·v, dS·k (6D + 5); key gradient: q·k, p·dO, dO·v,
// dS·q (8D + 5). attn_delta is 2D per query row. Bytes: every bound tensor read or written once.
const PAIR_FLOPS: Record<string, (D: number) => number> = {
  attn_forward: (D) => 4 * D + 5,
  attn_query_grad: (D) => 6 * D + 5,
  attn_key_grad: (D) => 8 * D + 5,
};

function attentionCost(entryPoint: string, s: AttentionShape, used: Partial<Record<Binding, GpuTensor>>): DispatchCost | undefined {
  const bytes = 4 * Object.values(used).reduce((sum, t) => sum + (t ? t.size : 0), 0);
  if (entryPoint === 'attn_delta') return { flops: 2 * s.B * s.H * s.T * s.D, bytes };
  const perPair = PAIR_FLOPS[entryPoint];
  return perPair ? { flops: visiblePairs(s) * perPair(s.D), bytes } : undefined;
}

/**
 * O = softmax(scale · q kᵀ + mask) v into out [B, T, H*D], and the row log-sum-exp into
 * lse [B, H, T] (what backward needs; release it when there is no backward).
 */
export function flashAttentionForward(ctx: GpuContext, q: GpuTensor, k: GpuTensor, v: GpuTensor, out: GpuTensor, lse: GpuTensor, s: AttentionShape): GpuTensor {
  const tensors: Bound = { q: [q, 'rows'], k: [k, 'keys'], v: [v, 'keys'], dst: [out, 'rows'], lse: [lse, 'stats'] };
  const label = checkTensors('attn_forward', s, tensors, ['dst', 'lse']);
  run(ctx, 'attn_forward', s.B * s.H * tiles(s.T), s, tensors, label);
  return out;
}

/** delta [B, H, T] = rowsum(dO ⊙ O), for the two gradient kernels. Returns delta. */
export function attentionDelta(ctx: GpuContext, O: GpuTensor, dO: GpuTensor, delta: GpuTensor, s: AttentionShape): GpuTensor {
  // O travels in the `q` binding: the shader's eight storage bindings are all taken.
  const tensors: Bound = { q: [O, 'rows'], dout: [dO, 'rows'], delta: [delta, 'stats'] };
  const label = checkTensors('attn_delta', s, tensors, ['delta'], { q: 'O', dout: 'dO' });
  run(ctx, 'attn_delta', s.B * s.H * s.T, s, tensors, label);
  return delta;
}

export interface AttentionGradInputs {
  readonly q: GpuTensor;
  readonly k: GpuTensor;
  readonly v: GpuTensor;
  /** ∂L/∂O [B, T, H*D]. */
  readonly dO: GpuTensor;
  /** Forward's row log-sum-exp [B, H, T]. */
  readonly lse: GpuTensor;
  /** attentionDelta's rowsum(dO ⊙ O) [B, H, T]. */
  readonly delta: GpuTensor;
}

function gradInputs(x: AttentionGradInputs): Bound {
  return {
    q: [x.q, 'rows'],
    k: [x.k, 'keys'],
    v: [x.v, 'keys'],
    dout: [x.dO, 'rows'],
    lse: [x.lse, 'stats'],
    delta: [x.delta, 'stats'],
  };
}

/** dq [B, T, H*D]. Returns dq. */
export function flashAttentionQueryGrad(ctx: GpuContext, x: AttentionGradInputs, dq: GpuTensor, s: AttentionShape): GpuTensor {
  const tensors: Bound = { ...gradInputs(x), dst: [dq, 'rows'] };
  const label = checkTensors('attn_query_grad', s, tensors, ['dst']);
  run(ctx, 'attn_query_grad', s.B * s.H * tiles(s.T), s, tensors, label);
  return dq;
}

/** dk, dv [B, S, KV*D], each summed over the query heads that share its kv head. */
export function flashAttentionKeyGrad(ctx: GpuContext, x: AttentionGradInputs, dk: GpuTensor, dv: GpuTensor, s: AttentionShape): void {
  const tensors: Bound = { ...gradInputs(x), dst: [dk, 'kvGrad'], dst2: [dv, 'kvGrad'] };
  const label = checkTensors('attn_key_grad', s, tensors, ['dst', 'dst2']);
  run(ctx, 'attn_key_grad', s.B * s.KV * tiles(s.S), s, tensors, label);
}

/** cache [B, maxT, C] rows start .. start+Tnew−1 ← x [B, Tnew, C]. Returns cache. */
export function kvCacheWrite(ctx: GpuContext, cache: GpuTensor, x: GpuTensor, start: number): GpuTensor {
  const label = `attn_cache_write cache ${cache.describe()}, x ${x.describe()}, start=${start}`;
  const fail = (message: string): never => {
    throw new GpuError(message, 'attn_cache_write', label);
  };
  if (cache.dtype !== 'f32' || x.dtype !== 'f32') fail('cache and x must be f32');
  if (cache.shape.length !== 3 || x.shape.length !== 3) fail('cache must be [B, maxT, C] and x [B, Tnew, C]');
  const [B, maxT, C] = cache.shape as [number, number, number];
  const [Bx, Tnew, Cx] = x.shape as [number, number, number];
  if (Bx !== B || Cx !== C) fail(`x must be [${B}, Tnew, ${C}]`);
  if (!Number.isInteger(start) || start < 0 || start + Tnew > maxT) fail(`rows ${start}..${start + Tnew - 1} do not fit the cache's ${maxT}`);
  if (cache.buffer === x.buffer) fail('x must not alias the cache');
  // The copy holds no per-invocation rows, so C may exceed MAX_HEAD_SIZE: D = 1 picks the small variant.
  const params = { n: B * Tnew * C, T: Tnew, S: start + Tnew, kvRows: maxT, offset: start, H: 1, KV: C, D: 1, window: 1, scale: 1 };
  dispatchWith(ctx, 'attn_cache_write', { k: x, dst: cache }, params, B * Tnew * C, label);
  return cache;
}
