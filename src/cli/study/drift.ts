// Spectral drift: how far training turned the top-k singular subspaces of a method's effective
// weights (AdaptedModel.effectiveWeight: what the forward pass multiplies by) away from where its
// init left them. Per projection, with U₀, V₀, σ₀ the top-k triplets at init and U₁, V₁, σ₁ after
// training (exact SVD on the GPU, linalg/svd.ts's one-sided Jacobi, f32):
//   left        = 1 − ‖U₀ᵀU₁‖²_F / k      0: the same subspace, 1: orthogonal ones
//   right       = 1 − ‖V₀ᵀV₁‖²_F / k
//   sigmaChange = ‖σ₁ − σ₀‖ / ‖σ₀‖         over σ₁..k
// The small products are taken on the host in float64 from the read-back factors; f32 rounding can
// put left/right a few 1e-7 outside [0, 1], so they are clamped.
// Most methods start from the base's weight: exactly (LoRA's B = 0, full fine-tuning's copy) or up
// to f32 rounding (PiSSA's W_res + BA = W, CorDA, LoRA-GA...). So the init side keeps each
// decomposition per projection and reuses it for a later init weight within INIT_MATCH of it
// (max |ΔW| relative to max |W|: 100× f32 rounding, far below what a quantized or pruned init
// changes, and below the f32 SVD's own error in the vectors, ~1e-6). A weight holding NaN or ±Inf
// (a diverged method) is not decomposed: its layer's figures are NaN.

import { releaseView } from '../../adapters/forms/frozenBase';
import type { AdaptedModel } from '../../adapters/types';
import type { GpuContext } from '../../gpu/context';
import type { GpuTensor } from '../../gpu/tensor';
import { exactSvd } from '../../linalg/svd';
import type { SpectralDriftResult } from '../../study/results';

/** The top-k singular triplets of one weight [m, n], on the host. */
export interface TopSingular {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** [m, k] row-major. */
  readonly U: Float32Array;
  /** [k], descending. */
  readonly S: Float32Array;
  /** [k, n] row-major. */
  readonly Vt: Float32Array;
}

export interface LayerDrift {
  readonly left: number;
  readonly right: number;
  readonly sigmaChange: number;
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/** 1 − ‖AᵀB‖²_F / k for A, B holding k orthonormal vectors of length `len` (`at(X, i, r)`: vector i's entry r). */
function subspaceGap(a: Float32Array, b: Float32Array, k: number, len: number, at: (x: Float32Array, i: number, r: number) => number): number {
  let sum = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      let dot = 0;
      for (let r = 0; r < len; r++) dot += at(a, i, r) * at(b, j, r);
      sum += dot * dot;
    }
  }
  return clamp01(1 - sum / k);
}

/** The drift between two decompositions of one projection's weight. */
export function driftBetween(before: TopSingular, after: TopSingular): LayerDrift {
  const { m, n, k } = before;
  if (after.m !== m || after.n !== n || after.k !== k) {
    return { left: Number.NaN, right: Number.NaN, sigmaChange: Number.NaN };
  }
  const left = subspaceGap(before.U, after.U, k, m, (x, i, r) => x[r * k + i]!);
  const right = subspaceGap(before.Vt, after.Vt, k, n, (x, i, r) => x[i * n + r]!);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < k; i++) {
    diff += (after.S[i]! - before.S[i]!) ** 2;
    norm += before.S[i]! ** 2;
  }
  return { left, right, sigmaChange: Math.sqrt(diff) / Math.sqrt(norm) };
}

/** The top-k triplets of W [m, n] (k capped at min(m, n)), read back; null when W holds a non-finite value. */
export async function topSingular(ctx: GpuContext, W: GpuTensor, k: number, values?: Float32Array): Promise<TopSingular | null> {
  const [m, n] = W.shape as [number, number];
  const host = values ?? (await ctx.read(W));
  if (!host.every(Number.isFinite)) return null;
  const keep = Math.min(k, m, n);
  const r = await exactSvd(ctx, W, { keep, purpose: 'the spectral drift' });
  try {
    return { m, n, k: keep, U: await ctx.read(r.U), S: await ctx.read(r.S), Vt: await ctx.read(r.Vt) };
  } finally {
    ctx.release(r.U, r.S, r.Vt);
  }
}

/** An init weight within this of a decomposed one (max |ΔW| / max |W|) reuses its decomposition. */
export const INIT_MATCH = 1e-5;

function matches(cached: Float32Array, values: Float32Array): boolean {
  if (cached.length !== values.length) return false;
  let scale = 0;
  for (let i = 0; i < cached.length; i++) scale = Math.max(scale, Math.abs(cached[i]!));
  const limit = INIT_MATCH * scale;
  for (let i = 0; i < cached.length; i++) if (!(Math.abs(cached[i]! - values[i]!) <= limit)) return false;
  return true;
}

/** The init-side decompositions of one method (taken right after its init), for `measure` after training. */
export interface DriftBaseline {
  readonly layers: ReadonlyMap<string, TopSingular | null>;
  readonly ms: number;
}

/** Spectral drift of every method of a run on a fixed set of projections, with the init decompositions shared across methods. */
export class SpectralDriftProbe {
  /** Per projection, the init weights decomposed so far. */
  private readonly cache = new Map<string, { values: Float32Array; top: TopSingular | null }[]>();

  constructor(
    private readonly ctx: GpuContext,
    readonly layers: readonly string[],
    readonly k: number,
  ) {}

  private async decompose(adapted: AdaptedModel, layer: string, when: 'init' | 'now', cached: boolean): Promise<TopSingular | null> {
    const view = adapted.effectiveWeight(this.ctx, layer, when);
    try {
      const W = view.tensor.data;
      const values = await this.ctx.read(W);
      if (!cached) return await topSingular(this.ctx, W, this.k, values);
      const decomposed = this.cache.get(layer) ?? [];
      const hit = decomposed.find((e) => matches(e.values, values));
      if (hit) return hit.top;
      const top = await topSingular(this.ctx, W, this.k, values);
      decomposed.push({ values, top });
      this.cache.set(layer, decomposed);
      return top;
    } finally {
      releaseView(this.ctx, view);
    }
  }

  /** Decomposes the method's effective weights as its init left them (call before any step, and before the shared base is released). */
  async baseline(adapted: AdaptedModel): Promise<DriftBaseline> {
    const start = performance.now();
    const layers = new Map<string, TopSingular | null>();
    for (const layer of this.layers) layers.set(layer, await this.decompose(adapted, layer, 'init', true));
    return { layers, ms: performance.now() - start };
  }

  /** The drift of the method's effective weights now from its baseline. */
  async measure(adapted: AdaptedModel, baseline: DriftBaseline): Promise<SpectralDriftResult> {
    const start = performance.now();
    const layers: SpectralDriftResult['layers'][number][] = [];
    for (const layer of this.layers) {
      const before = baseline.layers.get(layer) ?? null;
      const after = await this.decompose(adapted, layer, 'now', false);
      const d = before && after ? driftBetween(before, after) : { left: Number.NaN, right: Number.NaN, sigmaChange: Number.NaN };
      layers.push({ layer, ...d });
    }
    const mean = (key: keyof LayerDrift) => layers.reduce((s, l) => s + l[key], 0) / layers.length;
    return {
      k: Math.min(this.k, ...[...baseline.layers.values()].map((t) => t?.k ?? this.k)),
      layers,
      meanLeft: mean('left'),
      meanRight: mean('right'),
      meanSigmaChange: mean('sigmaChange'),
      ms: baseline.ms + performance.now() - start,
    };
  }
}
