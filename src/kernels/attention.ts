// Wrapper of shaders/attention.wgsl: the pieces of causal grouped-query attention.
//   rows  [B, T, H*D]        q, dO, or the output O, dQ
//   keys  [B, kvRows, KV*D]  k, v (kvRows ≥ S; kvRows = maxT when they are a KV cache)
//   probs [B, H, T, S]       P, dP, dS: query i (position offset + i) × key j, causal: j ≤ offset + i
// attentionForward composes scores → softmax → mix; the op in src/tensor/ops/attention.ts
// composes the backward from the same kernels (see the shader header for the algebra).
// kvCacheWrite copies new key/value rows into a cache at a row offset.
// Shapes are validated here (GpuError naming the kernel and the shapes); nothing reads back.

import source from '../../shaders/attention.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('attention', source);
const WG = 64;

export interface AttentionShape {
  readonly B: number;
  /** Query rows. */
  readonly T: number;
  /** Keys attended by the last query row (= offset + T); the row length of probs. */
  readonly S: number;
  /** Rows allocated per batch entry in the key/value tensors (S, or maxT for a cache). */
  readonly kvRows: number;
  /** Position of query row 0; query i attends keys j ≤ offset + i. */
  readonly offset: number;
  readonly H: number;
  readonly KV: number;
  readonly D: number;
}

/** The shape of self-attention over one sequence of T tokens (training). */
export function selfAttentionShape(B: number, T: number, H: number, KV: number, D: number): AttentionShape {
  return { B, T, S: T, kvRows: T, offset: 0, H, KV, D };
}

function describeShape(s: AttentionShape): string {
  return `B=${s.B} T=${s.T} S=${s.S} kvRows=${s.kvRows} offset=${s.offset} H=${s.H} KV=${s.KV} D=${s.D}`;
}

/** Throws a GpuError unless the shape is consistent. */
export function checkAttentionShape(kernel: string, s: AttentionShape): void {
  const fail = (message: string): never => {
    throw new GpuError(message, kernel, describeShape(s));
  };
  for (const [name, value] of Object.entries(s)) {
    if (!Number.isInteger(value) || value < 0) fail(`${name} must be a non-negative integer`);
  }
  if (s.H < 1 || s.KV < 1 || s.D < 1) fail('H, KV and D must be positive');
  if (s.H % s.KV !== 0) fail(`H (${s.H}) must be a multiple of KV (${s.KV})`);
  if (s.S > s.kvRows) fail(`S (${s.S}) exceeds the ${s.kvRows} rows of the key/value tensors`);
  if (s.S !== s.offset + s.T) fail(`S must be offset + T (${s.offset + s.T})`);
}

type Layout = 'rows' | 'keys' | 'probs' | 'kvGrad';

function sizeOf(layout: Layout, s: AttentionShape): number[] {
  switch (layout) {
    case 'rows':
      return [s.B, s.T, s.H * s.D];
    case 'keys':
      return [s.B, s.kvRows, s.KV * s.D];
    case 'probs':
      return [s.B, s.H, s.T, s.S];
    case 'kvGrad':
      return [s.B, s.S, s.KV * s.D];
  }
}

/** Checks each tensor holds f32 data of the layout's element count (shapes may be views). */
function checkTensors(kernel: string, s: AttentionShape, tensors: Record<string, [GpuTensor, Layout]>): string {
  checkAttentionShape(kernel, s);
  const shapes = Object.entries(tensors)
    .map(([name, [t]]) => `${name} ${t.describe()}`)
    .join(', ');
  const label = `${kernel} ${shapes} (${describeShape(s)})`;
  for (const [name, [t, layout]] of Object.entries(tensors)) {
    const want = sizeOf(layout, s);
    if (t.dtype !== 'f32') throw new GpuError(`${name} must be f32, is ${t.dtype}`, kernel, label);
    if (t.size !== want.reduce((a, b) => a * b, 1)) throw new GpuError(`${name} must be [${want.join(',')}]`, kernel, label);
  }
  return label;
}

interface Run {
  readonly entryPoint: string;
  readonly items: number;
  readonly s: AttentionShape;
  readonly rows?: GpuTensor;
  readonly keys?: GpuTensor;
  readonly probs?: GpuTensor;
  readonly dst: GpuTensor;
  readonly alpha?: number;
  readonly label: string;
}

function run(ctx: GpuContext, r: Run): GpuTensor {
  for (const input of [r.rows, r.keys, r.probs]) {
    if (input && input.buffer === r.dst.buffer) throw new GpuError('the output must not alias an input', r.entryPoint, r.label);
  }
  const { s } = r;
  ctx.dispatch({
    shader,
    entryPoint: r.entryPoint,
    constants: { WG },
    bindings: {
      rows: r.rows ?? ctx.placeholder(),
      keys: r.keys ?? ctx.placeholder(),
      probs: r.probs ?? ctx.placeholder(),
      dst: r.dst,
    },
    params: { n: r.items, T: s.T, S: s.S, kvRows: s.kvRows, offset: s.offset, H: s.H, KV: s.KV, D: s.D, alpha: r.alpha ?? 1 },
    workgroups: gridFor(ctx, r.items, WG),
    label: r.label,
  });
  return r.dst;
}

/** out [B, H, T, S] = alpha · rows_i · keys_j (scores, or dP = dO vᵀ); 0 where masked. */
export function attentionScores(ctx: GpuContext, rows: GpuTensor, keys: GpuTensor, out: GpuTensor, s: AttentionShape, alpha: number): GpuTensor {
  const label = checkTensors('attn_scores', s, { rows: [rows, 'rows'], keys: [keys, 'keys'], out: [out, 'probs'] });
  return run(ctx, { entryPoint: 'attn_scores', items: s.B * s.H * s.T * s.S, s, rows, keys, dst: out, alpha, label });
}

/** Causal row softmax of p [B, H, T, S] in place. */
export function attentionSoftmax(ctx: GpuContext, p: GpuTensor, s: AttentionShape): GpuTensor {
  const label = checkTensors('attn_softmax', s, { p: [p, 'probs'] });
  return run(ctx, { entryPoint: 'attn_softmax', items: s.B * s.H * s.T, s, dst: p, label });
}

/** In place: grad [B, H, T, S] holding dP becomes alpha · P ⊙ (dP − rowsum(P ⊙ dP)). */
export function attentionGradSoftmax(ctx: GpuContext, grad: GpuTensor, probs: GpuTensor, s: AttentionShape, alpha: number): GpuTensor {
  const label = checkTensors('attn_grad_softmax', s, { grad: [grad, 'probs'], probs: [probs, 'probs'] });
  return run(ctx, { entryPoint: 'attn_grad_softmax', items: s.B * s.H * s.T, s, probs, dst: grad, alpha, label });
}

/** out [B, T, H*D] = alpha · Σ_j probs_ij keys_j (O = P v, or dQ = dS k). */
export function attentionMix(ctx: GpuContext, probs: GpuTensor, keys: GpuTensor, out: GpuTensor, s: AttentionShape, alpha = 1): GpuTensor {
  const label = checkTensors('attn_mix', s, { probs: [probs, 'probs'], keys: [keys, 'keys'], out: [out, 'rows'] });
  return run(ctx, { entryPoint: 'attn_mix', items: s.B * s.T * s.H * s.D, s, probs, keys, dst: out, alpha, label });
}

/** out [B, S, KV*D] = alpha · Σ_{h in group} Σ_i probs_ij rows_i (dK = dSᵀ q, dV = Pᵀ dO). */
export function attentionGradKv(ctx: GpuContext, probs: GpuTensor, rows: GpuTensor, out: GpuTensor, s: AttentionShape, alpha = 1): GpuTensor {
  const label = checkTensors('attn_grad_kv', s, { probs: [probs, 'probs'], rows: [rows, 'rows'], out: [out, 'kvGrad'] });
  return run(ctx, { entryPoint: 'attn_grad_kv', items: s.B * s.S * s.KV * s.D, s, probs, rows, dst: out, alpha, label });
}

/**
 * O = softmax(scale · q kᵀ + causal mask) v into out [B, T, H*D]; P [B, H, T, S] is written to
 * `probs` (kept by the caller for backward, or released).
 */
export function attentionForward(
  ctx: GpuContext,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  probs: GpuTensor,
  out: GpuTensor,
  s: AttentionShape,
): GpuTensor {
  attentionScores(ctx, q, k, probs, s, 1 / Math.sqrt(s.D));
  attentionSoftmax(ctx, probs, s);
  return attentionMix(ctx, probs, v, out, s);
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
  const s: AttentionShape = { B, T: Tnew, S: start + Tnew, kvRows: maxT, offset: start, H: 1, KV: 1, D: C };
  return run(ctx, { entryPoint: 'attn_cache_write', items: B * Tnew * C, s, rows: x, dst: cache, label });
}
