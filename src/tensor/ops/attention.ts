// Causal scaled dot-product attention with grouped-query heads and an optional sliding window
// (Vaswani et al. 2017 eq. 1; GQA: Ainslie et al. 2023; sliding window: Mistral, Gemma 2/3), as
// flash attention (Dao et al. 2022, FlashAttention-2 backward), on the projections' layout:
//   q [B, T, H*D], k, v [B, T, KV*D] → O [B, T, H*D];  query head h uses kv head ⌊h / (H/KV)⌋.
//   S = scale · q kᵀ (scale = 1/√D unless given), visible iff j ≤ i and i − j < window,
//   P = softmax_rows(S),  O = P v.
// Forward runs an online softmax per query row and saves only the row log-sum-exp
// L = log Σ_j exp(S_ij), lse [B, H, T] (g.scratch). Backward, with dO = ∂L/∂O, recomputes
// P = exp(S − L) and, with Δ_i = Σ_j P_ij dP_ij (= dO_i · O_i):
//   dP = dO vᵀ,  dS = P ⊙ (dP − Δ),  dq = scale · dS k,  dk = scale · dSᵀ q,  dv = Pᵀ dO,
// dk and dv summed over the H/KV query heads sharing a kv head (each output element is one
// invocation's fixed-order loop: deterministic, no atomics). See shaders/attention.wgsl.
// Memory per layer: forward saves B·H·T floats (L) where the P-materialising version saved
// B·H·T² (P) and backward also held a second B·H·T² (dS); at B=8, H=16, T=1024 that is 512 KiB
// instead of 512 MiB + 512 MiB. Backward's scratch is Δ, B·H·T floats.
//
// Generation (inference only, no graph): writeKvCache puts new key/value rows into a cache
// [B, maxT, KV*D] at row `start`; cachedAttention attends q [B, Tnew, H*D] (positions
// start .. start+Tnew−1) over cache rows 0 .. start+Tnew−1 with the same causal and window rule.
// Not done: head sizes D > 256, padding masks, dropout, logit soft-capping, a rolling
// (window-sized) KV cache.

import {
  attentionDelta,
  checkAttentionShape,
  flashAttentionForward,
  flashAttentionKeyGrad,
  flashAttentionQueryGrad,
  kvCacheWrite,
  type AttentionShape,
} from '../../kernels/attention';
import type { GpuContext } from '../../gpu/context';
import type { GpuTensor } from '../../gpu/tensor';
import { GpuError } from '../../errors';
import type { Graph } from '../graph';
import { Tensor } from '../tensor';

export interface AttentionHeads {
  /** Query heads H. */
  readonly heads: number;
  /** Key/value heads KV (H for multi-head attention, 1 for multi-query); divides H. */
  readonly kvHeads: number;
  /** Head size D (at most 256). */
  readonly headDim: number;
  /**
   * Sliding window (Mistral, Gemma 2/3 local layers; Hugging Face's sliding_window_overlay):
   * query position p sees key position j iff j ≤ p and p − j < window. Absent: full causal.
   */
  readonly window?: number;
  /** Multiplier of q · k; default 1/√D (Gemma: query_pre_attn_scalar^−½). */
  readonly scale?: number;
}

/** The kernels' window: the option, or S (which no distance reaches) when absent. */
function windowOf(kernel: string, window: number | undefined, S: number): number {
  if (window === undefined) return Math.max(S, 1);
  if (!Number.isInteger(window) || window < 1) throw new GpuError(`window must be a positive integer, is ${window}`, kernel);
  return window;
}

/** [..., T, C] → [B (product of the leading dims), T]. */
function batchAndRows(kernel: string, name: string, t: GpuTensor, C: number): [number, number] {
  if (t.shape.length < 2 || t.shape[t.shape.length - 1] !== C) {
    throw new GpuError(`${name} must be [B, T, ${C}], is ${t.describe()}`, kernel);
  }
  const T = t.shape[t.shape.length - 2]!;
  return [t.shape.slice(0, -2).reduce((a, b) => a * b, 1), T];
}

/** The kernels' shape for B sequences of T queries at positions offset.. over kvRows-row keys. */
function shapeOf(kernel: string, options: AttentionHeads, B: number, T: number, offset: number, kvRows: number): AttentionShape {
  const { heads: H, kvHeads: KV, headDim: D } = options;
  const S = offset + T;
  const s: AttentionShape = { B, T, S, kvRows, offset, H, KV, D, window: windowOf(kernel, options.window, S), scale: options.scale ?? 1 / Math.sqrt(D) };
  checkAttentionShape(kernel, s); // before allocating, so a bad call leaks nothing
  return s;
}

export function causalAttention(g: Graph, q: Tensor, k: Tensor, v: Tensor, options: AttentionHeads): Tensor {
  const { heads: H, kvHeads: KV, headDim: D } = options;
  const [B, T] = batchAndRows('causalAttention', 'q', q.data, H * D);
  for (const [name, t] of [
    ['k', k.data],
    ['v', v.data],
  ] as const) {
    const [Bt, Tt] = batchAndRows('causalAttention', name, t, KV * D);
    if (Bt !== B || Tt !== T) throw new GpuError(`${name} ${t.describe()} must match q ${q.data.describe()} in B and T`, 'causalAttention');
  }
  const s = shapeOf('causalAttention', options, B, T, 0, T);
  const ctx = g.ctx;
  const needsGrad = g.gradEnabled && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
  const lse = needsGrad ? g.scratch([B, H, T], 'attention log-sum-exp') : ctx.empty([B, H, T], 'f32', 'attention log-sum-exp');
  const oData = flashAttentionForward(ctx, q.data, k.data, v.data, ctx.empty(q.shape, 'f32', 'attention output'), lse, s);
  if (!needsGrad) ctx.release(lse);
  const out = g.output(oData, [q, k, v], 'causalAttention');
  g.record('causalAttention', out, (dO) => {
    const delta = attentionDelta(ctx, oData, dO, ctx.empty([B, H, T], 'f32', 'attention delta'), s);
    const inputs = { q: q.data, k: k.data, v: v.data, dO, lse, delta };
    if (q.requiresGrad) g.accumulate(q, flashAttentionQueryGrad(ctx, inputs, ctx.empty(q.shape, 'f32', 'attention dq'), s));
    if (k.requiresGrad || v.requiresGrad) {
      const dk = ctx.empty(k.shape, 'f32', 'attention dk');
      const dv = ctx.empty(v.shape, 'f32', 'attention dv');
      flashAttentionKeyGrad(ctx, inputs, dk, dv, s);
      g.accumulate(k, dk); // releases it when k needs no gradient
      g.accumulate(v, dv);
    }
    ctx.release(delta);
  });
  return out;
}

function dataOf(x: GpuTensor | Tensor): GpuTensor {
  return x instanceof Tensor ? x.data : x;
}

/** cache [B, maxT, KV*D] rows start .. start+Tnew−1 ← x [B, Tnew, KV*D]. Returns cache. */
export function writeKvCache(ctx: GpuContext, cache: GpuTensor, x: GpuTensor | Tensor, start: number): GpuTensor {
  return kvCacheWrite(ctx, cache, dataOf(x), start);
}

export interface CachedAttentionOptions extends AttentionHeads {
  /** Position of q's first row = cache rows already filled before this call's tokens. */
  readonly start: number;
}

/**
 * Attention of q [B, Tnew, H*D] (positions start ..) over cache rows 0 .. start+Tnew−1, which
 * must already hold this call's keys and values (writeKvCache first). Returns a new
 * [B, Tnew, H*D] tensor (the caller releases it); no autograd.
 */
export function cachedAttention(ctx: GpuContext, q: GpuTensor | Tensor, kCache: GpuTensor, vCache: GpuTensor, options: CachedAttentionOptions): GpuTensor {
  const { heads: H, kvHeads: KV, headDim: D, start } = options;
  const qData = dataOf(q);
  const [B, Tnew] = batchAndRows('cachedAttention', 'q', qData, H * D);
  if (kCache.shape.length !== 3 || vCache.shape.join(',') !== kCache.shape.join(',')) {
    throw new GpuError(`kCache ${kCache.describe()} and vCache ${vCache.describe()} must both be [B, maxT, KV*D]`, 'cachedAttention');
  }
  const [Bc, maxT, C] = kCache.shape as [number, number, number];
  if (Bc !== B || C !== KV * D) throw new GpuError(`caches must be [${B}, maxT, ${KV * D}], are ${kCache.describe()}`, 'cachedAttention');
  const s = shapeOf('cachedAttention', options, B, Tnew, start, maxT);
  const lse = ctx.empty([B, H, Tnew], 'f32', 'cached attention log-sum-exp');
  const out = flashAttentionForward(ctx, qData, kCache, vCache, ctx.empty(qData.shape, 'f32', 'cached attention output'), lse, s);
  ctx.release(lse);
  return out;
}
