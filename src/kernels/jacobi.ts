// Wrapper of shaders/jacobi.wgsl: one-sided Jacobi SVD of C [q, n] (rows orthogonalised), in
// steps that linalg/svd.ts composes:
//   jacobiWorkspace(ctx, C, {keep, transposed, wantU}) → the seven buffers of one SVD
//   jacobiInit(ctx, w)            X = C (or Cᵀ), U_acc = I, status = 0
//   jacobiSweeps(ctx, w, max)     all sweeps in one workgroup (q ≤ ~128), no readback
//   jacobiRound(ctx, w, round)    one round, one workgroup per pair (large q)
//   jacobiReset(ctx, w)           status[0] = 0
//   jacobiExtract(ctx, w)         σ sorted descending → S [keep], U, Vt (see the shader header)
// With `transposed`, C is given as Cᵀ [n, q] and the outputs are those of the SVD of Cᵀ:
// U [n, keep] and Vt [keep, q]. Shapes in the workspace are those of the outputs.

import source from '../../shaders/jacobi.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('jacobi', source);

/** jacobi_extract keeps σ and the order in workgroup arrays of this size. */
export const JACOBI_MAX_ROWS = 1024;

export interface JacobiWorkspace {
  /** Rows being orthogonalised (the smaller side), and their length. */
  readonly q: number;
  readonly n: number;
  readonly keep: number;
  readonly transposed: boolean;
  readonly wantU: boolean;
  readonly C: GpuTensor;
  /** [q, n] working copy. */
  readonly X: GpuTensor;
  /** [q, q] accumulated rotations (a 1-element stub without wantU). */
  readonly Uacc: GpuTensor;
  /** u32 [4]: rotations in the current sweep (rounds), sweeps done, converged (one workgroup). */
  readonly status: GpuTensor;
  /** [q, keep], or [n, keep] when transposed (a stub without wantU unless transposed). */
  readonly U: GpuTensor;
  /** [keep] */
  readonly S: GpuTensor;
  /** [keep, n], or [keep, q] when transposed (a stub if transposed without wantU). */
  readonly Vt: GpuTensor;
}

export interface JacobiOptions {
  /** Singular triplets to write (≤ q); default q. */
  readonly keep?: number;
  /** C is given as Cᵀ [n, q]; outputs are those of the SVD of Cᵀ. */
  readonly transposed?: boolean;
  /** Accumulate Û (default true); without it only S is meaningful, and Vt unless transposed. */
  readonly wantU?: boolean;
}

/** Allocates the buffers of one SVD of C [q, n] (or Cᵀ [n, q] with transposed). */
export function jacobiWorkspace(ctx: GpuContext, C: GpuTensor, options: JacobiOptions = {}): JacobiWorkspace {
  const { transposed = false, wantU = true } = options;
  if (C.shape.length !== 2 || C.dtype !== 'f32') throw new GpuError('C must be an f32 matrix', 'jacobi', C.describe());
  const [q, n] = (transposed ? [C.shape[1], C.shape[0]] : C.shape) as [number, number];
  const keep = options.keep ?? q;
  const shapes = `C ${C.describe()}${transposed ? 'ᵀ' : ''}, keep ${keep}`;
  if (q > JACOBI_MAX_ROWS) throw new GpuError(`at most ${JACOBI_MAX_ROWS} rows (the smaller side)`, 'jacobi', shapes);
  if (!Number.isInteger(keep) || keep < 0 || keep > q) throw new GpuError(`keep must be in [0, ${q}]`, 'jacobi', shapes);
  const stub = (what: string) => ctx.empty([1], 'f32', what);
  const uShape = transposed ? [n, keep] : [q, keep];
  const vShape = transposed ? [keep, q] : [keep, n];
  const needU = transposed || wantU; // transposed: U holds Vᵀ's rows
  const needV = !transposed || wantU;
  return {
    q,
    n,
    keep,
    transposed,
    wantU,
    C,
    X: ctx.empty([q, n], 'f32', 'jacobi X'),
    Uacc: wantU ? ctx.empty([q, q], 'f32', 'jacobi Uacc') : stub('jacobi Uacc stub'),
    status: ctx.empty([4], 'u32', 'jacobi status'),
    U: needU ? ctx.empty(uShape, 'f32', 'svd U') : stub('svd U stub'),
    S: ctx.empty([keep], 'f32', 'svd S'),
    Vt: needV ? ctx.empty(vShape, 'f32', 'svd Vt') : stub('svd Vt stub'),
  };
}

/** Releases the workspace's scratch buffers (not C, and not the outputs in `keepOutputs`). */
export function releaseJacobiWorkspace(ctx: GpuContext, w: JacobiWorkspace, keepOutputs: readonly GpuTensor[] = []): void {
  for (const t of [w.X, w.Uacc, w.status, w.U, w.S, w.Vt]) if (!keepOutputs.includes(t)) ctx.release(t);
}

function workgroupSize(ctx: GpuContext, parallel: number): number {
  const cap = ctx.info.isSoftware ? 64 : 256;
  let wg = 32;
  while (wg < cap && wg < parallel) wg *= 2;
  return wg;
}

function dispatch(ctx: GpuContext, w: JacobiWorkspace, entryPoint: string, wg: number, workgroups: [number, number?], extra: { round?: number; maxSweeps?: number; tol?: number }, label: string): void {
  ctx.dispatch({
    shader,
    entryPoint,
    constants: entryPoint === 'jacobi_reset' ? {} : { WG: wg, TRANS_IN: w.transposed, TRANS_OUT: w.transposed, WANT_U: w.wantU },
    bindings: { c: w.C, x: w.X, uacc: w.Uacc, status: w.status, u: w.U, s: w.S, vt: w.Vt },
    params: {
      q: w.q,
      n: w.n,
      keep: w.keep,
      maxSweeps: extra.maxSweeps ?? 0,
      round: extra.round ?? 0,
      tol: extra.tol ?? jacobiTolerance(w.n),
    },
    workgroups,
    label: `${label} C [${w.q},${w.n}]`,
  });
}

/** Rotation threshold |γ| > tol·√(αβ): rounding in a length-n dot product is ~√n·ε. */
export function jacobiTolerance(n: number): number {
  return Math.max(1, Math.sqrt(n)) * 2 ** -23;
}

export function jacobiInit(ctx: GpuContext, w: JacobiWorkspace): void {
  const wg = 256;
  dispatch(ctx, w, 'jacobi_init', wg, gridFor(ctx, Math.max(w.q * w.n, w.q * w.q, 4), wg), {}, 'jacobi_init');
}

/** Up to maxSweeps sweeps in one workgroup; status[1] = sweeps done, status[2] = converged. */
export function jacobiSweeps(ctx: GpuContext, w: JacobiWorkspace, maxSweeps: number): void {
  const pairs = Math.ceil(w.q / 2);
  dispatch(ctx, w, 'jacobi_sweeps', workgroupSize(ctx, pairs), [1], { maxSweeps }, 'jacobi_sweeps');
}

/** Rounds per sweep of jacobiRound (q rounded up to even, minus one). */
export function jacobiRounds(q: number): number {
  return q + (q & 1) - 1;
}

/** One round of disjoint pairs, a workgroup each; counts rotations in status[0]. */
export function jacobiRound(ctx: GpuContext, w: JacobiWorkspace, round: number): void {
  const pairs = Math.ceil(w.q / 2);
  const wg = ctx.info.isSoftware ? 64 : w.n >= 256 ? 256 : 64;
  dispatch(ctx, w, 'jacobi_round', wg, [pairs], { round }, `jacobi_round ${round}`);
}

export function jacobiReset(ctx: GpuContext, w: JacobiWorkspace): void {
  dispatch(ctx, w, 'jacobi_reset', 1, [1], {}, 'jacobi_reset');
}

/** σ descending into S, and the first `keep` singular vectors into U and Vt. */
export function jacobiExtract(ctx: GpuContext, w: JacobiWorkspace): void {
  dispatch(ctx, w, 'jacobi_extract', workgroupSize(ctx, Math.max(w.q, 64)), [1], {}, 'jacobi_extract');
}
