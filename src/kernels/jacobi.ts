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
// Batched: C [batch, q, n] (or [batch, n, q]) is `batch` independent SVDs of one shape in one set
// of dispatches (workgroup_id.z picks the matrix); every output gets the leading [batch]. So the
// layers of one shape share each dispatch instead of paying one each (and, on a multi-core or
// many-SM device, run side by side).

import source from '../../shaders/jacobi.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('jacobi', source);

/** jacobi_extract keeps σ and the order in workgroup arrays of this size. */
export const JACOBI_MAX_ROWS = 1024;

export interface JacobiWorkspace {
  /** Matrices in the batch (1 for a plain [q, n] C). */
  readonly batch: number;
  /** Rows being orthogonalised (the smaller side), and their length. */
  readonly q: number;
  readonly n: number;
  readonly keep: number;
  readonly transposed: boolean;
  readonly wantU: boolean;
  readonly C: GpuTensor;
  /** [batch, q, n] working copy. */
  readonly X: GpuTensor;
  /** [batch, q, q] accumulated rotations (a 1-element stub without wantU). */
  readonly Uacc: GpuTensor;
  /** u32 [batch, 4]: rotations in the current sweep (rounds), sweeps done, converged (one workgroup). */
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

/**
 * Allocates the buffers of one SVD of C [q, n] (or Cᵀ [n, q] with transposed), or of a batch of
 * them: C [batch, q, n] (or [batch, n, q]).
 */
export function jacobiWorkspace(ctx: GpuContext, C: GpuTensor, options: JacobiOptions = {}): JacobiWorkspace {
  const { transposed = false, wantU = true } = options;
  if ((C.shape.length !== 2 && C.shape.length !== 3) || C.dtype !== 'f32')
    throw new GpuError('C must be an f32 matrix [q, n] or a batch of them [batch, q, n]', 'jacobi', C.describe());
  const batched = C.shape.length === 3;
  const batch = batched ? C.shape[0]! : 1;
  const [rows, cols] = C.shape.slice(-2) as [number, number];
  const [q, n] = transposed ? [cols, rows] : [rows, cols];
  const keep = options.keep ?? q;
  const shapes = `C ${C.describe()}${transposed ? 'ᵀ' : ''}, keep ${keep}`;
  if (q > JACOBI_MAX_ROWS) throw new GpuError(`at most ${JACOBI_MAX_ROWS} rows (the smaller side)`, 'jacobi', shapes);
  if (!Number.isInteger(keep) || keep < 0 || keep > q) throw new GpuError(`keep must be in [0, ${q}]`, 'jacobi', shapes);
  if (batch < 1) throw new GpuError('the batch must hold at least one matrix', 'jacobi', shapes);
  const stub = (what: string) => ctx.empty([1], 'f32', what);
  const lead = batched ? [batch] : [];
  const uShape = transposed ? [n, keep] : [q, keep];
  const vShape = transposed ? [keep, q] : [keep, n];
  const needU = transposed || wantU; // transposed: U holds Vᵀ's rows
  const needV = !transposed || wantU;
  return {
    batch,
    q,
    n,
    keep,
    transposed,
    wantU,
    C,
    X: ctx.empty([...lead, q, n], 'f32', 'jacobi X'),
    Uacc: wantU ? ctx.empty([...lead, q, q], 'f32', 'jacobi Uacc') : stub('jacobi Uacc stub'),
    status: ctx.empty([...lead, 4], 'u32', 'jacobi status'),
    U: needU ? ctx.empty([...lead, ...uShape], 'f32', 'svd U') : stub('svd U stub'),
    S: ctx.empty([...lead, keep], 'f32', 'svd S'),
    Vt: needV ? ctx.empty([...lead, ...vShape], 'f32', 'svd Vt') : stub('svd Vt stub'),
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

function dispatch(
  ctx: GpuContext,
  w: JacobiWorkspace,
  entryPoint: string,
  wg: number,
  workgroups: [number, number],
  extra: { round?: number; maxSweeps?: number; tol?: number },
  label: string,
): void {
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
    workgroups: [workgroups[0], workgroups[1], w.batch],
    label: `${label} C [${w.batch > 1 ? `${w.batch}×` : ''}${w.q},${w.n}]`,
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

/** Up to maxSweeps sweeps in one workgroup per matrix; status[b, 1] = sweeps done, status[b, 2] = converged. */
export function jacobiSweeps(ctx: GpuContext, w: JacobiWorkspace, maxSweeps: number): void {
  const pairs = Math.ceil(w.q / 2);
  dispatch(ctx, w, 'jacobi_sweeps', workgroupSize(ctx, pairs), [1, 1], { maxSweeps }, 'jacobi_sweeps');
}

/** Rounds per sweep of jacobiRound (q rounded up to even, minus one). */
export function jacobiRounds(q: number): number {
  return q + (q & 1) - 1;
}

/** One round of disjoint pairs, a workgroup each (per matrix); counts rotations in status[b, 0]. */
export function jacobiRound(ctx: GpuContext, w: JacobiWorkspace, round: number): void {
  const pairs = Math.ceil(w.q / 2);
  const wg = ctx.info.isSoftware ? 64 : w.n >= 256 ? 256 : 64;
  dispatch(ctx, w, 'jacobi_round', wg, [pairs, 1], { round }, `jacobi_round ${round}`);
}

export function jacobiReset(ctx: GpuContext, w: JacobiWorkspace): void {
  dispatch(ctx, w, 'jacobi_reset', 1, [1, 1], {}, 'jacobi_reset');
}

/** σ descending into S, and the first `keep` singular vectors into U and Vt (per matrix). */
export function jacobiExtract(ctx: GpuContext, w: JacobiWorkspace): void {
  dispatch(ctx, w, 'jacobi_extract', workgroupSize(ctx, Math.max(w.q, 64)), [1, 1], {}, 'jacobi_extract');
}
