// Wrapper of shaders/lanczos.wgsl: the per-column scalar work of many independent Lanczos runs on
// a symmetric G [s, s], with V [batch, s, cols] holding one start vector per column. The caller
// forms W = G·V with matmuls between the steps (linalg/nuclear.ts); see the shader header for the
// recurrences.
//   lanczosWorkspace(ctx, batch, s, cols, steps) → the buffers of one run
//   lanczosSign(ctx, w)           Rademacher ±1 from uniform [−1, 1) values in w
//   lanczosStart(ctx, w)          normalise the start vectors in w.w into w.v; ‖·‖² into w.start
//   lanczosUpdate(ctx, w, step)   after the caller wrote G·v into w.w: coefficients of `step`,
//                                 then rotates the buffers (w.v is the next vector, w.w is free)
// Coefficients: coef [batch, cols, steps, 2] = (α_j, β_j) per column; the tridiagonal T of a
// column has α on its diagonal and β_1..β_{steps−1} beside it; β_steps is the Gauss–Radau term.

import source from '../../shaders/lanczos.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('lanczos', source);
const WG = 64;

/** A step's β below this fraction of |α_j| + β_{j−1} counts as a breakdown (the Krylov space is exhausted). */
export const LANCZOS_BREAKDOWN = 1e-6;

export interface LanczosWorkspace {
  readonly batch: number;
  readonly s: number;
  readonly cols: number;
  readonly steps: number;
  /** [batch, s, cols]: v_{j−1}, v_j, and G·v_j (then v_{j+1}); rotated by lanczosUpdate. */
  vprev: GpuTensor;
  v: GpuTensor;
  w: GpuTensor;
  /** [batch, cols, steps, 2] */
  readonly coef: GpuTensor;
  /** [batch, cols]: squared norms of the start vectors. */
  readonly start: GpuTensor;
}

export function lanczosWorkspace(ctx: GpuContext, batch: number, s: number, cols: number, steps: number): LanczosWorkspace {
  for (const [name, value] of [
    ['batch', batch],
    ['s', s],
    ['cols', cols],
    ['steps', steps],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new GpuError(`${name} must be a positive integer, is ${value}`, 'lanczos');
  }
  const shape = [batch, s, cols];
  return {
    batch,
    s,
    cols,
    steps,
    vprev: ctx.empty(shape, 'f32', 'lanczos v_{j-1}'),
    v: ctx.empty(shape, 'f32', 'lanczos v_j'),
    w: ctx.empty(shape, 'f32', 'lanczos G v_j'),
    coef: ctx.empty([batch, cols, steps, 2], 'f32', 'lanczos coefficients'),
    start: ctx.empty([batch, cols], 'f32', 'lanczos start norms'),
  };
}

export function releaseLanczosWorkspace(ctx: GpuContext, w: LanczosWorkspace): void {
  ctx.release(w.vprev, w.v, w.w, w.coef, w.start);
}

function dispatch(ctx: GpuContext, w: LanczosWorkspace, entryPoint: string, items: number, step: number, label: string): void {
  ctx.dispatch({
    shader,
    entryPoint,
    constants: { WG },
    bindings: { vprev: w.vprev, v: w.v, w: w.w, coef: w.coef, start: w.start },
    params: { s: w.s, cols: w.cols, count: w.batch * w.cols, n: w.batch * w.s * w.cols, step, steps: w.steps, tol: LANCZOS_BREAKDOWN },
    workgroups: gridFor(ctx, items, WG),
    label: `${label} [${w.batch},${w.s},${w.cols}]`,
  });
}

/** w.w ← sign(w.w) (±1; 0 maps to +1). */
export function lanczosSign(ctx: GpuContext, w: LanczosWorkspace): void {
  dispatch(ctx, w, 'lanczos_sign', w.batch * w.s * w.cols, 0, 'lanczos_sign');
}

/** v = w.w normalised per column, vprev = 0, start = ‖w.w column‖². */
export function lanczosStart(ctx: GpuContext, w: LanczosWorkspace): void {
  dispatch(ctx, w, 'lanczos_start', w.batch * w.cols, 0, 'lanczos_start');
}

/** With w.w = G·w.v: the coefficients of `step` (0-based), then (vprev, v, w) ← (v, w, vprev). */
export function lanczosUpdate(ctx: GpuContext, w: LanczosWorkspace, step: number): void {
  if (!Number.isInteger(step) || step < 0 || step >= w.steps) throw new GpuError(`step must be in [0, ${w.steps})`, 'lanczos_update', `step ${step}`);
  dispatch(ctx, w, 'lanczos_update', w.batch * w.cols, step, `lanczos_update ${step}`);
  const prev = w.vprev;
  w.vprev = w.v;
  w.v = w.w;
  w.w = prev;
}
