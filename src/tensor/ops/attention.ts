// Causal scaled dot-product attention with grouped-query heads (Vaswani et al. 2017 eq. 1;
// GQA: Ainslie et al. 2023), on the projections' native layout:
//   q [B, T, H*D], k, v [B, T, KV*D] → O [B, T, H*D];  query head h uses kv head ⌊h / (H/KV)⌋.
//   S = scale · q kᵀ (scale = 1/√D) with the causal mask j ≤ i,  P = softmax_rows(S),  O = P v.
// P [B, H, T, T] is saved for backward (g.scratch). Backward, with dO = ∂L/∂O:
//   dP = dO vᵀ,  dS = scale · P ⊙ (dP − rowsum(P ⊙ dP))  (softmax Jacobian, scale folded in),
//   dq = dS k,   dk = dSᵀ q,   dv = Pᵀ dO,
// where dk and dv also sum over the H/KV query heads sharing a kv head (each output element is
// one invocation's fixed-order loop: deterministic, no atomics).
//
// Generation (inference only, no graph): writeKvCache puts new key/value rows into a cache
// [B, maxT, KV*D] at row `start`; cachedAttention attends q [B, Tnew, H*D] (positions
// start .. start+Tnew−1) over cache rows 0 .. start+Tnew−1 with the same causal rule.
// Not done: flash-style fusion (P is materialised: B·H·T² floats), padding masks, dropout.

import {
  attentionForward,
  attentionGradKv,
  attentionGradSoftmax,
  attentionMix,
  attentionScores,
  checkAttentionShape,
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
  /** Head size D. */
  readonly headDim: number;
}

/** [..., T, C] → [B (product of the leading dims), T]. */
function batchAndRows(kernel: string, name: string, t: GpuTensor, C: number): [number, number] {
  if (t.shape.length < 2 || t.shape[t.shape.length - 1] !== C) {
    throw new GpuError(`${name} must be [B, T, ${C}], is ${t.describe()}`, kernel);
  }
  const T = t.shape[t.shape.length - 2]!;
  return [t.shape.slice(0, -2).reduce((a, b) => a * b, 1), T];
}

export function causalAttention(g: Graph, q: Tensor, k: Tensor, v: Tensor, options: AttentionHeads): Tensor {
  const { heads: H, kvHeads: KV, headDim: D } = options;
  const [B, T] = batchAndRows('causalAttention', 'q', q.data, H * D);
  for (const [name, t] of [['k', k.data], ['v', v.data]] as const) {
    const [Bt, Tt] = batchAndRows('causalAttention', name, t, KV * D);
    if (Bt !== B || Tt !== T) throw new GpuError(`${name} ${t.describe()} must match q ${q.data.describe()} in B and T`, 'causalAttention');
  }
  const s: AttentionShape = { B, T, S: T, kvRows: T, offset: 0, H, KV, D };
  checkAttentionShape('causalAttention', s); // before allocating, so a bad call leaks nothing
  const ctx = g.ctx;
  const needsGrad = g.gradEnabled && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
  const P = needsGrad ? g.scratch([B, H, T, T], 'attention probabilities') : ctx.empty([B, H, T, T], 'f32', 'attention probabilities');
  const oData = attentionForward(ctx, q.data, k.data, v.data, P, ctx.empty(q.shape, 'f32', 'attention output'), s);
  if (!needsGrad) ctx.release(P);
  const out = g.output(oData, [q, k, v], 'causalAttention');
  g.record('causalAttention', out, (dO) => {
    if (q.requiresGrad || k.requiresGrad) {
      const dS = ctx.empty([B, H, T, T], 'f32', 'attention dS');
      attentionScores(ctx, dO, v.data, dS, s, 1); // dP
      attentionGradSoftmax(ctx, dS, P, s, 1 / Math.sqrt(D));
      if (q.requiresGrad) g.accumulate(q, attentionMix(ctx, dS, k.data, ctx.empty(q.shape, 'f32', 'attention dq'), s));
      if (k.requiresGrad) g.accumulate(k, attentionGradKv(ctx, dS, q.data, ctx.empty(k.shape, 'f32', 'attention dk'), s));
      ctx.release(dS);
    }
    if (v.requiresGrad) g.accumulate(v, attentionGradKv(ctx, P, dO, ctx.empty(v.shape, 'f32', 'attention dv'), s));
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
export function cachedAttention(
  ctx: GpuContext,
  q: GpuTensor | Tensor,
  kCache: GpuTensor,
  vCache: GpuTensor,
  options: CachedAttentionOptions,
): GpuTensor {
  const { heads: H, kvHeads: KV, headDim: D, start } = options;
  const qData = dataOf(q);
  const [B, Tnew] = batchAndRows('cachedAttention', 'q', qData, H * D);
  if (kCache.shape.length !== 3 || vCache.shape.join(',') !== kCache.shape.join(',')) {
    throw new GpuError(`kCache ${kCache.describe()} and vCache ${vCache.describe()} must both be [B, maxT, KV*D]`, 'cachedAttention');
  }
  const [Bc, maxT, C] = kCache.shape as [number, number, number];
  if (Bc !== B || C !== KV * D) throw new GpuError(`caches must be [${B}, maxT, ${KV * D}], are ${kCache.describe()}`, 'cachedAttention');
  const s: AttentionShape = { B, T: Tnew, S: start + Tnew, kvRows: maxT, offset: start, H, KV, D };
  checkAttentionShape('cachedAttention', s);
  const P = ctx.empty([B, H, Tnew, start + Tnew], 'f32', 'cached attention probabilities');
  const out = attentionForward(ctx, qData, kCache, vCache, P, ctx.empty(qData.shape, 'f32', 'cached attention output'), s);
  ctx.release(P);
  return out;
}
