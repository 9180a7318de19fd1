// Principal components of a layer's input activations over several batches (EVA's init,
// ADAPTERS.md "More methods"), from running sums on the GPU:
//   S = Σ_n (x_n − c)(x_n − c)ᵀ [in, in],  s = Σ_n (x_n − c) [in],  n tokens,
// with c the mean of the first batch's tokens: a shift that keeps the f32 sums from cancelling
// when the activations have a large mean (LLM activations do, in a few channels). Then
//   S_c = S − s sᵀ / n = Σ_n (x_n − μ)(x_n − μ)ᵀ = X_cᵀ X_c        (μ the mean over all n),
// and, with the centered activations X_c = U Σ Vᵀ [n, in], X_cᵀ X_c = V Σ² Vᵀ: the top-k
// eigenvectors of S_c are the top-k right singular vectors of X_c stacked over every batch, with
// eigenvalues σ_i². This is the exact answer PEFT's EVA approaches with an incremental PCA over
// the batches (utils/incremental_pca.py, which centers by the running mean as above); keeping S
// costs in² floats whatever the number of tokens, where stacking X would cost n·in.
// The total variance for explained-variance ratios is trace(S_c) = Σ_i σ_i², whose diagonal is
// gathered with the embedding kernel (S viewed as a table of in² one-float rows).
// Eigenvectors: randomized SVD of S_c (PEFT's IncrementalPCA runs torch.svd_lowrank with
// q = 2k and niter 4) or one-sided Jacobi; for a symmetric PSD matrix the right singular vectors
// are its eigenvectors and the singular values its eigenvalues.

import type { GpuTensor } from '../gpu/tensor';
import { addRowVectorInto, fill } from '../kernels/elementwise';
import { embeddingForward } from '../kernels/embedding';
import { matmulInto } from '../kernels/matmul';
import type { Tensor } from '../tensor/tensor';
import { gpuContextOf } from '../tensor/gpuContextOf';
import type { Runtime } from '../tensor/values';
import { randomizedSvd } from './rsvd';
import { exactSvd } from './svd';
import { InputError, InternalError } from '../errors';

/** Running sums of one input (several projections that read the same tensor share them). */
export interface InputScatter {
  readonly inFeatures: number;
  /** S [in, in] */
  readonly S: GpuTensor;
  /** s [in] */
  readonly sum: GpuTensor;
  /** −c [1, in], set by the first accumulated batch. */
  negShift: GpuTensor | undefined;
  tokens: number;
}

export function inputScatter(rt: Runtime, inFeatures: number, name: string): InputScatter {
  const ctx = gpuContextOf(rt);
  return {
    inFeatures,
    S: fill(ctx, rt.empty([inFeatures, inFeatures], 'f32', `${name} input scatter`), 0),
    sum: fill(ctx, rt.empty([inFeatures], 'f32', `${name} input sum`), 0),
    negShift: undefined,
    tokens: 0,
  };
}

/** Adds the rows of x [..., in] at `rows` (u32 token positions; all rows when absent) to the sums. */
export function accumulateInputScatter(rt: Runtime, acc: InputScatter, x: Tensor, rows?: Tensor): void {
  const ctx = gpuContextOf(rt);
  const inF = acc.inFeatures;
  const N = x.data.size / inF;
  if (x.shape[x.shape.length - 1] !== inF || !Number.isInteger(N)) throw new InternalError(`input scatter: x [${x.shape.join(',')}] does not end in ${inF}`);
  const K = rows ? rows.data.size : N;
  if (K === 0) return;
  const all = x.data.view([N, inF]);
  const picked = rows ? embeddingForward(ctx, rows.data, all) : all; // [K, in]
  const X = picked.view([K, inF]);
  const ones = fill(ctx, rt.empty([1, K], 'f32', 'ones'), 1);
  if (!acc.negShift) acc.negShift = matmulInto(ctx, ones, X, rt.empty([1, inF], 'f32', 'input shift'), { alpha: -1 / K });
  const Y = addRowVectorInto(ctx, rt.empty([K, inF], 'f32', 'shifted input'), X, acc.negShift.view([inF])); // X − c
  matmulInto(ctx, Y, Y, acc.S, { transA: true, accumulate: true });
  matmulInto(ctx, ones, Y, acc.sum.view([1, inF]), { accumulate: true });
  acc.tokens += K;
  rt.release(Y, ones, ...(rows ? [picked] : []));
}

export interface InputComponents {
  /** σ_i² of the centered activations (eigenvalues of S_c), descending [k]. */
  readonly values: Float32Array;
  /** [k, in] row-major: the principal directions (right singular vectors of X_c), unit rows. */
  readonly vectors: Float32Array;
  /** trace(S_c) = Σ over all in directions of σ_i² (explained-variance ratio denominators). */
  readonly total: number;
  readonly tokens: number;
}

export interface ComponentOptions {
  readonly niter: number;
  readonly exact: boolean;
  readonly seed: number;
}

/** The top-k principal components of the accumulated inputs; turns S into S_c in place. */
export async function inputComponents(rt: Runtime, acc: InputScatter, k: number, options: ComponentOptions): Promise<InputComponents> {
  const ctx = gpuContextOf(rt);
  const inF = acc.inFeatures;
  const n = acc.tokens;
  if (n === 0) throw new InputError('no calibration tokens reached this layer');
  if (!Number.isInteger(k) || k < 1 || k > inF) throw new InternalError(`cannot take ${k} components of ${inF} input features`);
  matmulInto(ctx, acc.sum.view([1, inF]), acc.sum.view([1, inF]), acc.S, { transA: true, alpha: -1 / n, accumulate: true }); // S_c
  const diagonalIds = rt.upload(
    Uint32Array.from({ length: inF }, (_, i) => i * (inF + 1)),
    [inF],
    'u32',
    'diagonal positions',
  );
  const diagonal = embeddingForward(ctx, diagonalIds, acc.S.view([inF * inF, 1]));
  const total = (await rt.read(diagonal)).reduce((a, v) => a + v, 0);
  rt.release(diagonalIds, diagonal);
  const svd = options.exact
    ? await exactSvd(ctx, acc.S, { keep: k })
    : randomizedSvd(ctx, acc.S, { rank: k, oversample: Math.min(k, inF - k), niter: options.niter, seed: options.seed });
  try {
    return { values: await rt.read(svd.S), vectors: await rt.read(svd.Vt), total, tokens: n };
  } finally {
    rt.release(svd.U, svd.S, svd.Vt);
  }
}

export function releaseInputScatter(rt: Runtime, acc: InputScatter): void {
  rt.release(acc.S, acc.sum, acc.negShift);
}
