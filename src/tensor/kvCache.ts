// Keys and values of past positions for generation, per layer: k, v [B, maxTokens, KV·D] each.
// attendWithCache() appends this call's keys and values at `start` and attends over positions
// 0 .. start + Tnew − 1 (causally within the new rows). Inference only: nothing is recorded for
// backward.

import type { GpuTensor } from '../gpu/tensor';
import type { Graph } from './graph';
import { cachedAttention, writeKvCache, type AttentionHeads } from './ops/attention';
import type { Tensor } from './tensor';
import type { Runtime } from './values';
import { InternalError } from '../errors';

export interface KvCacheShape {
  readonly layers: number;
  readonly batch: number;
  readonly maxTokens: number;
  /** KV·D */
  readonly kvDim: number;
}

export class KvCache {
  private readonly keys: GpuTensor[] = [];
  private readonly values: GpuTensor[] = [];

  constructor(
    private readonly rt: Runtime,
    readonly shape: KvCacheShape,
  ) {
    const dims = [shape.batch, shape.maxTokens, shape.kvDim];
    for (let l = 0; l < shape.layers; l++) {
      this.keys.push(rt.empty(dims, 'f32', `kv cache keys ${l}`));
      this.values.push(rt.empty(dims, 'f32', `kv cache values ${l}`));
    }
  }

  layer(l: number): { keys: GpuTensor; values: GpuTensor } {
    const keys = this.keys[l];
    const values = this.values[l];
    if (!keys || !values) throw new InternalError(`the KV cache has ${this.shape.layers} layers, not ${l + 1}`);
    return { keys, values };
  }

  destroy(): void {
    this.rt.release(...this.keys, ...this.values);
    this.keys.length = 0;
    this.values.length = 0;
  }
}

/** q [B, Tnew, H·D], k, v [B, Tnew, KV·D] at positions start.. → [B, Tnew, H·D] (no gradient). */
export function attendWithCache(g: Graph, q: Tensor, k: Tensor, v: Tensor, cache: KvCache, layer: number, options: AttentionHeads & { start: number }): Tensor {
  const { keys, values } = cache.layer(layer);
  const T = q.shape[1] ?? 0;
  if (options.start + T > cache.shape.maxTokens) {
    throw new InternalError(`KV cache holds ${cache.shape.maxTokens} positions; positions up to ${options.start + T - 1} asked`);
  }
  writeKvCache(g.ctx, keys, k, options.start);
  writeKvCache(g.ctx, values, v, options.start);
  return g.output(cachedAttention(g.ctx, q, keys, values, options), [], 'cached attention');
}
