// Wrapper of shaders/norm.wgsl: LayerNorm / RMSNorm over the last dimension, forward and backward.
//   normForward(kind, x [..., C], weight [C], bias [C] | undefined, eps, stats [R, 2]) → y [..., C]
//     (R = product of the leading dims; stats receives (mean, rstd) per row; mean = 0 for RMS)
//     A weight offset of 1 scales by (1 + weight) instead of weight (Gemma's RMSNorm); the
//     backward of x takes the same offset, the weight gradient needs none.
//   addNormForward(kind, a, b [..., C], weight, bias, eps, stats) → { sum: s = a + b, y: norm(s) }
//     (one dispatch: the residual add fused into the norm that follows it)
//   normBackwardInput(kind, x, weight, stats, dy [..., C]) → dx [..., C]; with `accumulate` it
//     adds dx into `out` in place (out = ds + dx for a fused add's residual gradient ds), and with
//     `second` it also writes that result to, or adds it to, a second gradient (the add's other input).
//   normParamGrad(which, x, stats, dy, out [C]?, accumulate?) → dweight [C] (Σ_r dy·x̂) or
//     dbias [C] (Σ_r dy), deterministic: rows are cut into ≤ 1024 chunks of ≥ 64 rows, one
//     invocation per (column, chunk) sums its chunk, then one invocation per column sums the
//     chunk partials in order. No float atomics.
// Variants (behind these functions, chosen from the adapter like matmul's; tests force each with
// forceNormVariant):
//   workgroup: one workgroup of 64–256 invocations per row, reduced through workgroup memory with
//              barriers (real GPUs);
//   serial:    one invocation per row looping over C in registers, no barriers (software
//              adapters: on SwiftShader the barriers made the norms ~70 % of a training step).
//              Its parameter gradients use chunks of at least 4096 rows, so up to 4096 rows
//              take one dispatch instead of two (there is no parallel hardware to feed).
// The math is in the shader's header. Not done: reductions over a dimension other than the last,
// dtypes other than f32, a fused dw+db pass (db is a second cheap pass over dy).

import source from '../../shaders/norm.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { workgroupGrid } from './elementwise';
import { ADAPTER_VARIANTS, adapterVariantChoice, type AdapterVariant } from './adapterVariant';

const shader = defineShader('norm', source);

export type NormKind = 'layer' | 'rms';

/** Parameter-gradient chunking: at least this many rows per chunk … */
export const MIN_CHUNK_ROWS = 64;
/** … and at most this many chunks (partials [chunks, C]). */
export const MAX_CHUNKS = 1024;
const PARAM_WG = 64;
/** Rows per workgroup of the `serial` variant (the shader's ROW_WG). */
const ROW_WG = 16;
/** The `serial` variant's parameter gradient: at least this many rows per chunk. */
export const MIN_CHUNK_ROWS_SERIAL = 4096;

export type NormVariant = AdapterVariant;
export const NORM_VARIANTS = ADAPTER_VARIANTS;
const variants = adapterVariantChoice();
/** Tests: every norm kernel on ctx uses `variant` from now on (undefined: the adapter's choice again). */
export const forceNormVariant = variants.force;
/** Barrier-free serial rows on software adapters, workgroup reductions on real GPUs (unless forced). */
export const normVariant = variants.of;

interface RowShape {
  readonly R: number;
  readonly C: number;
}

function rowShape(kernel: string, x: GpuTensor): RowShape {
  if (x.dtype !== 'f32') throw new GpuError(`x must be f32, is ${x.dtype}`, kernel, `x ${x.describe()}`);
  const C = x.shape[x.shape.length - 1];
  if (C === undefined || C === 0) throw new GpuError('x must be [..., C] with C ≥ 1', kernel, `x ${x.describe()}`);
  return { R: x.size / C, C };
}

function expectShape(kernel: string, shapes: string, name: string, t: GpuTensor, shape: readonly number[]): void {
  if (t.dtype !== 'f32') throw new GpuError(`${name} must be f32, is ${t.dtype}`, kernel, shapes);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new GpuError(`${name} must be [${shape.join(',')}]`, kernel, shapes);
  }
}

function describeAll(named: Record<string, GpuTensor | undefined>): string {
  return Object.entries(named)
    .filter((e): e is [string, GpuTensor] => e[1] !== undefined)
    .map(([name, t]) => `${name} ${t.describe()}`)
    .join(', ');
}

function rowWorkgroupSize(C: number): number {
  // Narrow rows waste most of a 256-wide workgroup and its barriers.
  return C <= 64 ? 64 : 256;
}

/** Entry point, workgroup-size constants and grid of a row kernel (norm_forward / norm_backward_dx) for R rows of C. */
function rowLaunch(
  ctx: GpuContext,
  entry: 'norm_forward' | 'norm_backward_dx',
  R: number,
  C: number,
): { entryPoint: string; size: Readonly<Record<string, number>>; workgroups: [number, number] } {
  const max = ctx.device.limits.maxComputeWorkgroupsPerDimension;
  if (normVariant(ctx) === 'serial') {
    return { entryPoint: `${entry}_serial`, size: { ROW_WG }, workgroups: workgroupGrid(Math.ceil(R / ROW_WG), max) };
  }
  return { entryPoint: entry, size: { WG: rowWorkgroupSize(C) }, workgroups: workgroupGrid(R, max) };
}

/** y = norm(x)·w (+ b); (mean, rstd) per row go to stats [R, 2]. */
export function normForward(
  ctx: GpuContext,
  kind: NormKind,
  x: GpuTensor,
  weight: GpuTensor,
  bias: GpuTensor | undefined,
  eps: number,
  stats: GpuTensor,
  out?: GpuTensor,
  weightOffset: 0 | 1 = 0,
): GpuTensor {
  return forward(ctx, kind, x, undefined, weight, bias, eps, stats, out, weightOffset).y;
}

/** s = a + b and y = norm(s)·w (+ b) in one dispatch; (mean, rstd) of s per row go to stats [R, 2]. */
export function addNormForward(
  ctx: GpuContext,
  kind: NormKind,
  a: GpuTensor,
  b: GpuTensor,
  weight: GpuTensor,
  bias: GpuTensor | undefined,
  eps: number,
  stats: GpuTensor,
  weightOffset: 0 | 1 = 0,
): { sum: GpuTensor; y: GpuTensor } {
  const { y, sum } = forward(ctx, kind, a, b, weight, bias, eps, stats, undefined, weightOffset);
  return { y, sum: sum! };
}

function forward(
  ctx: GpuContext,
  kind: NormKind,
  x: GpuTensor,
  addend: GpuTensor | undefined,
  weight: GpuTensor,
  bias: GpuTensor | undefined,
  eps: number,
  stats: GpuTensor,
  out: GpuTensor | undefined,
  weightOffset: 0 | 1,
): { y: GpuTensor; sum: GpuTensor | undefined } {
  const kernel = `${addend ? 'add+' : ''}${kind === 'rms' ? 'rmsNorm' : 'layerNorm'}`;
  const { R, C } = rowShape(kernel, x);
  const shapes = describeAll({ x, addend, weight, bias, stats, out });
  if (addend) expectShape(kernel, shapes, 'addend', addend, x.shape);
  expectShape(kernel, shapes, 'weight', weight, [C]);
  if (bias) {
    if (kind === 'rms') throw new GpuError('RMSNorm has no bias', kernel, shapes);
    expectShape(kernel, shapes, 'bias', bias, [C]);
  }
  expectShape(kernel, shapes, 'stats', stats, [R, 2]);
  if (out) expectShape(kernel, shapes, 'out', out, x.shape);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new GpuError(`eps ${eps} must be finite and ≥ 0`, kernel, shapes);
  for (const t of [x, addend, weight, bias]) {
    if (t && (t.buffer === stats.buffer || t.buffer === out?.buffer)) throw new GpuError('outputs must not alias inputs', kernel, shapes);
  }
  const y = out ?? ctx.empty(x.shape, 'f32', `${kernel} output`);
  const sum = addend ? ctx.empty(x.shape, 'f32', `${kernel} sum`) : undefined;
  const launch = rowLaunch(ctx, 'norm_forward', R, C);
  ctx.dispatch({
    shader,
    entryPoint: launch.entryPoint,
    constants: { RMS: kind === 'rms', HAS_BIAS: bias !== undefined, W_OFFSET: weightOffset, ADD: addend !== undefined, ...launch.size },
    // Unused read-only bindings alias a bound input (legal); an unused out2 gets the placeholder,
    // which nothing else in the dispatch binds (a writable binding may not alias).
    bindings: { x, weight, bias: bias ?? weight, dy: addend ?? x, stats, out: y, out2: sum ?? ctx.placeholder() },
    params: { rows: R, C, eps, chunks: 0, chunkRows: 0, accumulate: 0 },
    workgroups: launch.workgroups,
    label: `${kernel} ${shapes}`,
    // RMS: Σx² then x·rstd·w (≈4 per element); LayerNorm: mean, variance, normalise, affine (≈8);
    // the add: 1 more, reading b and writing s.
    cost: {
      flops: R * C * ((kind === 'rms' ? 4 : 8) + (addend ? 1 : 0)),
      bytes: 4 * ((addend ? 4 : 2) * R * C + C * (bias ? 2 : 1) + 2 * R),
    },
  });
  return { y, sum };
}

/** Where normBackwardInput also puts its result: written to `out` (a new gradient) or added into it. */
export interface SecondGradient {
  readonly out: GpuTensor;
  readonly mode: 'write' | 'add';
}

export interface NormBackwardOptions {
  /** out += dx instead of out = dx (needs `out`). */
  readonly accumulate?: boolean;
  readonly second?: SecondGradient;
}

/** dx [..., C] = ∂L/∂x from dy [..., C] and the stats saved by normForward. */
export function normBackwardInput(
  ctx: GpuContext,
  kind: NormKind,
  x: GpuTensor,
  weight: GpuTensor,
  stats: GpuTensor,
  dy: GpuTensor,
  out?: GpuTensor,
  weightOffset: 0 | 1 = 0,
  options: NormBackwardOptions = {},
): GpuTensor {
  const kernel = kind === 'rms' ? 'rmsNorm backward' : 'layerNorm backward';
  const { R, C } = rowShape(kernel, x);
  const second = options.second?.out;
  const shapes = describeAll({ x, weight, stats, dy, out, second });
  expectShape(kernel, shapes, 'weight', weight, [C]);
  expectShape(kernel, shapes, 'stats', stats, [R, 2]);
  expectShape(kernel, shapes, 'dy', dy, x.shape);
  for (const [name, o] of [
    ['out', out],
    ['second', second],
  ] as const) {
    if (!o) continue;
    expectShape(kernel, shapes, name, o, x.shape);
    if ([x, weight, stats, dy].some((t) => t.buffer === o.buffer)) throw new GpuError(`${name} must not alias an input`, kernel, shapes);
  }
  if (out && second && out.buffer === second.buffer) throw new GpuError('out and second must be different tensors', kernel, shapes);
  if (options.accumulate && !out) throw new GpuError('accumulate needs an existing output', kernel, shapes);
  const dx = out ?? ctx.empty(x.shape, 'f32', `${kernel} dx`);
  const launch = rowLaunch(ctx, 'norm_backward_dx', R, C);
  const mode = options.second?.mode;
  ctx.dispatch({
    shader,
    entryPoint: launch.entryPoint,
    constants: { RMS: kind === 'rms', W_OFFSET: weightOffset, OUT2: mode === 'write' ? 1 : mode === 'add' ? 2 : 0, ...launch.size },
    bindings: { x, weight, bias: weight, dy, stats, out: dx, out2: second ?? ctx.placeholder() },
    params: { rows: R, C, eps: 0, chunks: 0, chunkRows: 0, accumulate: options.accumulate ? 1 : 0 },
    workgroups: launch.workgroups,
    label: `${kernel} ${shapes}`,
    // x̂, w·dy, the row dot product and the final combination: ≈7 per element (LayerNorm ≈10);
    // reads x and dy, writes dx (+ reads out, + writes the second gradient and reads it to add).
    cost: {
      flops: R * C * ((kind === 'rms' ? 7 : 10) + (options.accumulate ? 1 : 0) + (mode === 'add' ? 1 : 0)),
      bytes: 4 * ((3 + (options.accumulate ? 1 : 0) + (mode ? 1 : 0) + (mode === 'add' ? 1 : 0)) * R * C + C + 2 * R),
    },
  });
  return dx;
}

/** How the parameter gradient cuts R rows into chunks (the `serial` variant: longer chunks, so usually one). */
export function paramChunkPlan(R: number, variant: NormVariant = 'workgroup'): { chunkRows: number; chunks: number } {
  const chunkRows = Math.max(variant === 'serial' ? MIN_CHUNK_ROWS_SERIAL : MIN_CHUNK_ROWS, Math.ceil(R / MAX_CHUNKS));
  return { chunkRows, chunks: Math.max(1, Math.ceil(R / chunkRows)) };
}

/**
 * ∂L/∂weight [C] = Σ_r dy·x̂ (which = 'weight') or ∂L/∂bias [C] = Σ_r dy (which = 'bias'),
 * written to `out` (new when absent), or added to it with `accumulate`.
 */
export function normParamGrad(
  ctx: GpuContext,
  which: 'weight' | 'bias',
  x: GpuTensor,
  stats: GpuTensor,
  dy: GpuTensor,
  out?: GpuTensor,
  accumulate = false,
): GpuTensor {
  const kernel = `norm d${which}`;
  const { R, C } = rowShape(kernel, x);
  const shapes = describeAll({ x, stats, dy, out });
  expectShape(kernel, shapes, 'stats', stats, [R, 2]);
  expectShape(kernel, shapes, 'dy', dy, x.shape);
  if (out) {
    expectShape(kernel, shapes, 'out', out, [C]);
    if ([x, stats, dy].some((t) => t.buffer === out.buffer)) throw new GpuError('out must not alias an input', kernel, shapes);
  }
  if (accumulate && !out) throw new GpuError('accumulate needs an existing output', kernel, shapes);
  const result = out ?? ctx.empty([C], 'f32', `${kernel}`);
  const { chunkRows, chunks } = paramChunkPlan(R, normVariant(ctx));
  const partials = chunks > 1 ? ctx.empty([chunks, C], 'f32', `${kernel} partials`) : undefined;
  const columnGroups = Math.ceil(C / PARAM_WG);
  ctx.dispatch({
    shader,
    entryPoint: 'norm_param_rows',
    constants: { BIAS_GRAD: which === 'bias' },
    bindings: { x, weight: x, bias: x, dy, stats, out: partials ?? result, out2: ctx.placeholder() },
    params: { rows: R, C, eps: 0, chunks, chunkRows, accumulate: !partials && accumulate ? 1 : 0 },
    workgroups: [columnGroups, chunks],
    label: `${kernel} ${shapes}${partials ? ` pass 1 (${chunks} chunks)` : ''}`,
    // dweight: x̂ = (x − mean)·rstd, times dy, summed (4 per element); dbias: a sum of dy.
    cost: {
      flops: R * C * (which === 'bias' ? 1 : 4),
      bytes: 4 * (R * C * (which === 'bias' ? 1 : 2) + 2 * R + (partials ? chunks * C : C * (accumulate ? 2 : 1))),
    },
  });
  if (partials) {
    ctx.dispatch({
      shader,
      entryPoint: 'norm_param_sum',
      bindings: { x: partials, weight: partials, bias: partials, dy: partials, stats, out: result, out2: ctx.placeholder() },
      params: { rows: R, C, eps: 0, chunks, chunkRows, accumulate: accumulate ? 1 : 0 },
      workgroups: [columnGroups],
      label: `${kernel} partials [${chunks},${C}]`,
      cost: { flops: chunks * C, bytes: 4 * (chunks * C + C * (accumulate ? 2 : 1)) },
    });
    // Later GPU work that reuses this buffer is ordered after the read above.
    ctx.release(partials);
  }
  return result;
}
