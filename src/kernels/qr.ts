// Wrapper of shaders/qr.wgsl: the pieces of a thin QR of a tall matrix (composed in linalg/qr.ts).
//   choleskyUpper(ctx, G [q, q], R [q, q], work [2q], flag u32 [1], tau, reset)  G = RᵀR
//   trsmUpperRight(ctx, Y [m, q], R [q, q], Q [m, q], flag)                      Q = Y R⁻¹
//   gramSchmidtIfFlagged(ctx, Y [m, q], Q [m, q], scratch, flag)                 Q = orth(Y) if flag
// The three entry points share one layout of four read_write buffers, so every call takes four
// distinct tensors (an unused one is still bound; see the shader header). Nothing reads back.

import source from '../../shaders/qr.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('qr', source);

/** gram_schmidt's workgroup coefficient buffer holds this many columns. */
export const QR_MAX_COLUMNS = 1024;

function workgroupSize(ctx: GpuContext, parallel: number): number {
  // Barrier-heavy single-workgroup kernels: SwiftShader pays per barrier per invocation.
  const cap = ctx.info.isSoftware ? 64 : 256;
  let wg = 32;
  while (wg < cap && wg < parallel) wg *= 2;
  return wg;
}

function check(kernel: string, cond: boolean, message: string, shapes: string): void {
  if (!cond) throw new GpuError(message, kernel, shapes);
}

function distinct(kernel: string, shapes: string, ...ts: GpuTensor[]): void {
  const buffers = new Set(ts.map((t) => t.buffer));
  check(kernel, buffers.size === ts.length, 'the four tensors must be distinct buffers', shapes);
}

/**
 * R [q, q] (upper triangular) with G = RᵀR. Sets flag[0] = 1 when a pivot is not > tau · G_kk;
 * with reset, first clears flag[0] (else an earlier failure stays flagged).
 */
export function choleskyUpper(ctx: GpuContext, G: GpuTensor, R: GpuTensor, work: GpuTensor, flag: GpuTensor, tau: number, reset: boolean): void {
  const q = G.shape[0] ?? 0;
  const shapes = `G ${G.describe()}, R ${R.describe()}, work ${work.describe()}, flag ${flag.describe()}`;
  check('cholesky', G.shape.length === 2 && G.shape[1] === q, 'G must be square [q, q]', shapes);
  check('cholesky', R.size === q * q && work.size >= 2 * q && flag.dtype === 'u32' && flag.size >= 1, 'R must be [q, q], work [2q], flag u32 [1]', shapes);
  distinct('cholesky', shapes, G, R, work, flag);
  ctx.dispatch({
    shader,
    entryPoint: 'cholesky',
    constants: { WG: workgroupSize(ctx, q) },
    bindings: { a: G, r: R, out: work, flag },
    params: { m: q, q, tau, reset: reset ? 1 : 0 },
    workgroups: [1],
    label: `cholesky ${G.describe()}`,
  });
}

/** Q [m, q] = Y [m, q] · R⁻¹ for upper triangular R [q, q]. `unused` is bound, never touched. */
export function trsmUpperRight(ctx: GpuContext, Y: GpuTensor, R: GpuTensor, Q: GpuTensor, unused: GpuTensor): void {
  const [m = 0, q = 0] = Y.shape;
  const shapes = `Y ${Y.describe()}, R ${R.describe()}, Q ${Q.describe()}`;
  check('trsm', Y.shape.length === 2 && R.size === q * q && Q.size === m * q, 'Y must be [m, q], R [q, q], Q [m, q]', shapes);
  distinct('trsm', shapes, Y, R, Q, unused);
  const wg = 64;
  ctx.dispatch({
    shader,
    entryPoint: 'trsm',
    constants: { WG: wg },
    bindings: { a: Y, r: R, out: Q, flag: unused },
    params: { m, q, tau: 0, reset: 0 },
    workgroups: gridFor(ctx, m, wg),
    label: `trsm ${Y.describe()}·R⁻¹`,
  });
}

/** If flag[0] ≠ 0: Q [m, q] = orthonormal basis of Y's columns (CGS2, one workgroup). */
export function gramSchmidtIfFlagged(ctx: GpuContext, Y: GpuTensor, Q: GpuTensor, unused: GpuTensor, flag: GpuTensor): void {
  const [m = 0, q = 0] = Y.shape;
  const shapes = `Y ${Y.describe()}, Q ${Q.describe()}`;
  check('gram_schmidt', Y.shape.length === 2 && Q.size === m * q, 'Y and Q must be [m, q]', shapes);
  check('gram_schmidt', q <= QR_MAX_COLUMNS && q <= m, `needs q ≤ min(m, ${QR_MAX_COLUMNS})`, shapes);
  distinct('gram_schmidt', shapes, Y, Q, unused, flag);
  ctx.dispatch({
    shader,
    entryPoint: 'gram_schmidt',
    constants: { WG: workgroupSize(ctx, m) },
    bindings: { a: Y, r: unused, out: Q, flag },
    params: { m, q, tau: 0, reset: 0 },
    workgroups: [1],
    label: `gram_schmidt ${Y.describe()}`,
  });
}
