// Wrapper of shaders/sparse_delta.wgsl: a sparse update of a dense weight W [rows, cols] held as
// k values at fixed flat positions idx [k] (u32, row-major i·cols + j, distinct):
//   sparseScatterAdd(ctx, W', values, idx, s)  W' [rows, cols] += s · ΔW in place (W' is a copy of
//                                              W the caller made; scatter of k entries, no atomics)
//   sparseGradValues(ctx, x [N, cols], G [N, rows], idx, rows, {s, into, accumulate})
//                                              → [k] = s · (Gᵀ x) gathered at idx, without forming
//                                              the [rows, cols] product (2·k·N flops)
// The indices are not checked here for range or duplicates (that needs the host copy the caller
// has); the shader skips out-of-range entries instead of writing out of bounds.

import source from '../../shaders/sparse_delta.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('sparse_delta', source);

const WG = 256;

function checkIndices(kernel: string, idx: GpuTensor, values?: GpuTensor): number {
  const shapes = `idx ${idx.describe()}${values ? `, values ${values.describe()}` : ''}`;
  if (idx.dtype !== 'u32' || idx.shape.length !== 1) throw new GpuError('idx must be u32 [k]', kernel, shapes);
  if (values && (values.dtype !== 'f32' || values.shape.length !== 1 || values.size !== idx.size))
    throw new GpuError(`values must be f32 [${idx.size}]`, kernel, shapes);
  return idx.size;
}

/** W' [rows, cols] += s · values[t] at flat position idx[t], in place; returns W'. */
export function sparseScatterAdd(ctx: GpuContext, W: GpuTensor, values: GpuTensor, idx: GpuTensor, s = 1): GpuTensor {
  const kernel = 'sparse_scatter_add';
  const k = checkIndices(kernel, idx, values);
  if (W.shape.length !== 2 || W.dtype !== 'f32') throw new GpuError('W must be an f32 matrix [rows, cols]', kernel, W.describe());
  if (!Number.isFinite(s)) throw new GpuError(`scale s = ${s} is not finite`, kernel);
  const [rows, cols] = W.shape as [number, number];
  ctx.dispatch({
    shader,
    entryPoint: kernel,
    constants: { WG },
    bindings: { values, idx, x: ctx.placeholder(), gy: ctx.placeholder(), out: W },
    params: { k, rows, cols, tokens: 0, s, beta: 0 },
    workgroups: gridFor(ctx, k, WG),
    label: `${kernel} W ${W.describe()} k=${k} s=${s}`,
    cost: { flops: k, bytes: 16 * k },
  });
  return W;
}

export interface SparseGradOptions {
  readonly s?: number;
  /** Write (or, with accumulate, add) the gradient here instead of a new tensor. */
  readonly into?: GpuTensor;
  readonly accumulate?: boolean;
}

/** [k] = s · Σ_n G[n, i_t] x[n, j_t] (+ into), (i_t, j_t) = (idx[t] / cols, idx[t] % cols). */
export function sparseGradValues(ctx: GpuContext, x: GpuTensor, G: GpuTensor, idx: GpuTensor, rows: number, options: SparseGradOptions = {}): GpuTensor {
  const kernel = 'sparse_grad';
  const { s = 1, into, accumulate = false } = options;
  const k = checkIndices(kernel, idx);
  const shapes = `x ${x.describe()}, G ${G.describe()}, idx ${idx.describe()}`;
  if (x.shape.length !== 2 || G.shape.length !== 2 || x.dtype !== 'f32' || G.dtype !== 'f32')
    throw new GpuError('x and G must be f32 matrices [N, cols] and [N, rows]', kernel, shapes);
  const [N, cols] = x.shape as [number, number];
  if (G.shape[0] !== N || G.shape[1] !== rows) throw new GpuError(`G must be [${N}, ${rows}]`, kernel, shapes);
  if (accumulate && !into) throw new GpuError('accumulate needs `into`', kernel, shapes);
  if (!Number.isFinite(s)) throw new GpuError(`scale s = ${s} is not finite`, kernel, shapes);
  const out = into ?? ctx.empty([k], 'f32', 'sparse values gradient');
  if (out.dtype !== 'f32' || out.size !== k) throw new GpuError(`output must be f32 with ${k} elements`, kernel, `${shapes}, out ${out.describe()}`);
  if ([x, G, idx].some((t) => t.buffer === out.buffer)) throw new GpuError('output must not alias an input', kernel, shapes);
  ctx.dispatch({
    shader,
    entryPoint: kernel,
    constants: { WG },
    bindings: { values: ctx.placeholder(), idx, x, gy: G, out },
    params: { k, rows, cols, tokens: N, s, beta: accumulate ? 1 : 0 },
    workgroups: gridFor(ctx, k, WG),
    label: `${kernel} ${shapes}${accumulate ? ' +=' : ''}`,
    cost: { flops: 2 * k * N, bytes: 8 * k * N },
  });
  return out;
}
