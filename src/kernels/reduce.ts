// Wrapper of shaders/reduce.wgsl: sums, sums of squares and maxima of f32 tensors.
//   Row-wise over the last dimension: rowSum / rowSumSquares / rowMax, x [..., C] → [...]
//     (x [R, C] → [R]); one workgroup per row.
//   Whole tensor: sum / sumSquares / max, x (any shape) → [1]; two passes: segments of ≥ 4096
//     elements into ≤ 1024 partials, then one workgroup over the partials (one pass when x has
//     ≤ 4096 elements).
//   sumSquaresMany(tensors) → [1]: Σ over all tensors of Σ x², for global gradient-norm clipping;
//     up to K tensors per dispatch (shaders/reduce_multi.wgsl), their partials in one buffer, then
//     one final reduction, all without a readback.
// Results stay on the GPU; nothing here reads back. No float atomics (deterministic results).
// Not done: NaN propagation in max (WGSL's max() leaves it to the GPU), dtypes other than f32,
// reductions over a dimension other than the last.

import source from '../../shaders/reduce.wgsl?raw';
import multiSource from '../../shaders/reduce_multi.wgsl?raw';
import { defineShader, type GpuContext, type ShaderDef } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { fill, workgroupGrid } from './elementwise';

const shader = defineShader('reduce', source);

/** Whole-tensor passes: at most this many partials (workgroups) in the first pass … */
export const MAX_PARTIALS = 1024;
/** … and at least this many elements per partial, so small tensors take one pass. */
export const MIN_SEGMENT = 4096;

export type ReduceKind = 'sum' | 'sumSquares' | 'max';

interface Segments {
  readonly x: GpuTensor;
  /** Elements of x to read (a prefix of x). */
  readonly n: number;
  readonly len: number;
  readonly segments: number;
  readonly out: GpuTensor;
  readonly outOffset: number;
  readonly square: boolean;
  readonly max: boolean;
  readonly label: string;
}

function dispatchSegments(ctx: GpuContext, s: Segments): void {
  // Short segments (narrow rows) waste most of a 256-wide workgroup and its 8 barriers.
  const wg = s.len <= 64 ? 64 : 256;
  ctx.dispatch({
    shader,
    entryPoint: 'reduce_segments',
    constants: { SQUARE: s.square, MAX: s.max, WG: wg },
    bindings: { x: s.x, out: s.out },
    params: { n: s.n, len: s.len, segments: s.segments, outOffset: s.outOffset },
    workgroups: workgroupGrid(s.segments, ctx.device.limits.maxComputeWorkgroupsPerDimension),
    label: s.label,
    cost: { flops: s.n * (s.square ? 2 : 1), bytes: 4 * (s.n + s.segments) },
  });
}

/** How a whole-tensor pass cuts n elements: segments of len (the last may be shorter). */
export function segmentPlan(n: number): { len: number; segments: number } {
  if (n <= 0) return { len: 1, segments: 0 };
  const len = Math.max(MIN_SEGMENT, Math.ceil(n / MAX_PARTIALS));
  return { len, segments: Math.ceil(n / len) };
}

/**
 * Reduces the first n (> 0) elements of x to one value at out[outOffset]. Partials are released as
 * soon as they are recorded: the pool hands a buffer out again only to later GPU work, which the
 * command stream orders after these reads.
 */
function reduceAllInto(ctx: GpuContext, x: GpuTensor, n: number, kind: ReduceKind, out: GpuTensor, outOffset: number, label: string): void {
  const square = kind === 'sumSquares';
  const max = kind === 'max';
  const { len, segments } = segmentPlan(n);
  if (segments === 1) {
    dispatchSegments(ctx, { x, n, len: n, segments: 1, out, outOffset, square, max, label });
    return;
  }
  const partials = ctx.empty([segments], 'f32', `${label} partials`);
  dispatchSegments(ctx, { x, n, len, segments, out: partials, outOffset: 0, square, max, label: `${label} pass 1` });
  reduceAllInto(ctx, partials, segments, max ? 'max' : 'sum', out, outOffset, `${label} partials [${segments}]`);
  ctx.release(partials);
}

function requireF32(kernel: string, t: GpuTensor, what: string): void {
  if (t.dtype !== 'f32') throw new GpuError(`${what} must be f32, is ${t.dtype}`, kernel, `${what} ${t.describe()}`);
}

function checkOut(kernel: string, x: GpuTensor, out: GpuTensor, shape: readonly number[]): void {
  requireF32(kernel, out, 'out');
  if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) {
    throw new GpuError(`output must be [${shape.join(',')}]`, kernel, `x ${x.describe()}, out ${out.describe()}`);
  }
  if (out.buffer === x.buffer) throw new GpuError('output must not alias the input', kernel, `x ${x.describe()}`);
}

// ---- whole tensor -----------------------------------------------------------------------------

function reduceAll(ctx: GpuContext, kind: ReduceKind, x: GpuTensor, out?: GpuTensor): GpuTensor {
  requireF32(kind, x, 'x');
  if (out) checkOut(kind, x, out, [1]);
  if (x.size === 0) {
    if (kind === 'max') throw new GpuError('max of an empty tensor is undefined', kind, `x ${x.describe()}`);
    return fill(ctx, out ?? ctx.empty([1], 'f32', `${kind} output`), 0);
  }
  const result = out ?? ctx.empty([1], 'f32', `${kind} output`);
  reduceAllInto(ctx, x, x.size, kind, result, 0, `${kind} ${x.describe()}`);
  return result;
}

/** Σ x over every element → [1]. */
export function sum(ctx: GpuContext, x: GpuTensor, out?: GpuTensor): GpuTensor {
  return reduceAll(ctx, 'sum', x, out);
}

/** Σ x² over every element → [1]. */
export function sumSquares(ctx: GpuContext, x: GpuTensor, out?: GpuTensor): GpuTensor {
  return reduceAll(ctx, 'sumSquares', x, out);
}

/** max x over every element → [1] (x must not be empty). */
export function max(ctx: GpuContext, x: GpuTensor, out?: GpuTensor): GpuTensor {
  return reduceAll(ctx, 'max', x, out);
}

/**
 * Σ over tensors of Σ x² → [1] (the squared global gradient norm). Tensors are sorted by size and
 * bound up to K at a time (reduce_multi.wgsl): each dispatch writes one partial per segment of its
 * longest tensor into one buffer, then one reduction sums them: ⌈tensors / K⌉ + 1 dispatches (+1
 * when there are more than 4096 partials in all), no readback. K = maxStorageBuffersPerShaderStage − 1
 * (7 at WebGPU's default limit), at most MAX_SQUARES_SLOTS.
 */
export function sumSquaresMany(ctx: GpuContext, tensors: readonly GpuTensor[], out?: GpuTensor): GpuTensor {
  for (const [i, t] of tensors.entries()) requireF32('sumSquaresMany', t, `tensors[${i}]`);
  if (out) {
    requireF32('sumSquaresMany', out, 'out');
    if (out.shape.length !== 1 || out.shape[0] !== 1) throw new GpuError('output must be [1]', 'sumSquaresMany', `out ${out.describe()}`);
    const aliased = tensors.findIndex((t) => t.buffer === out.buffer);
    if (aliased >= 0) throw new GpuError(`output must not alias tensors[${aliased}]`, 'sumSquaresMany', `out ${out.describe()}`);
  }
  const result = out ?? ctx.empty([1], 'f32', 'sumSquaresMany output');
  const groups = squaresGroups(
    tensors.filter((t) => t.size > 0),
    Math.min(MAX_SQUARES_SLOTS, ctx.device.limits.maxStorageBuffersPerShaderStage - 1),
  );
  const plans = groups.map((g) => segmentPlan(g[g.length - 1]!.size));
  const total = plans.reduce((acc, p) => acc + p.segments, 0);
  if (total === 0) return fill(ctx, result, 0);
  const partials = ctx.empty([total], 'f32', 'sumSquaresMany partials');
  let offset = 0;
  groups.forEach((group, g) => {
    const { len, segments } = plans[g]!;
    const params: Record<string, number> = { len, segments, outOffset: offset };
    const bindings: Record<string, GpuTensor> = { out: partials };
    group.forEach((t, k) => {
      params[`n${k}`] = t.size;
      bindings[`x${k}`] = t;
    });
    const elements = group.reduce((acc, t) => acc + t.size, 0);
    ctx.dispatch({
      shader: squaresShader(group.length),
      entryPoint: 'sum_squares_multi',
      constants: { WG: len <= 64 ? 64 : 256 },
      bindings,
      params,
      workgroups: workgroupGrid(segments, ctx.device.limits.maxComputeWorkgroupsPerDimension),
      label: `sumSquaresMany ${group.length} tensors, ${elements} elements`,
      cost: { flops: 2 * elements, bytes: 4 * (elements + segments) },
    });
    offset += segments;
  });
  reduceAllInto(ctx, partials, total, 'sum', result, 0, `sumSquaresMany partials [${total}]`);
  ctx.release(partials);
  return result;
}

/** Most tensors one sum-of-squares dispatch binds, whatever the device allows. */
export const MAX_SQUARES_SLOTS = 16;

/** Tensors by increasing size, cut into groups of at most k: similar sizes share a dispatch. */
function squaresGroups(tensors: readonly GpuTensor[], k: number): GpuTensor[][] {
  const sorted = [...tensors].sort((a, b) => a.size - b.size);
  const groups: GpuTensor[][] = [];
  for (let i = 0; i < sorted.length; i += k) groups.push(sorted.slice(i, i + k));
  return groups;
}

const squaresShaders = new Map<number, ShaderDef>();

/** reduce_multi.wgsl for k slots, with its generated declarations in front (see its header). */
function squaresShader(k: number): ShaderDef {
  let def = squaresShaders.get(k);
  if (!def) {
    const slots = Array.from({ length: k }, (_, s) => s);
    const generated = [
      `// ---- generated by src/kernels/reduce.ts for ${k} slot(s) ----`,
      `struct Params { len: u32, segments: u32, outOffset: u32, ${slots.map((s) => `n${s}: u32`).join(', ')} }`,
      '@group(0) @binding(0) var<uniform> params: Params;',
      '@group(0) @binding(1) var<storage, read_write> out: array<f32>;',
      ...slots.map((s) => `@group(0) @binding(${2 + s}) var<storage, read> x${s}: array<f32>;`),
      'fn squares_at(i: u32) -> f32 {',
      '  var a = 0.0;',
      ...slots.map((s) => `  if (i < params.n${s}) { let v = x${s}[i]; a += v * v; }`),
      '  return a;',
      '}',
      '// ---- shaders/reduce_multi.wgsl ----',
    ];
    def = defineShader(`reduce_multi_${k}`, [...generated, multiSource].join('\n'));
    squaresShaders.set(k, def);
  }
  return def;
}

// ---- rows -------------------------------------------------------------------------------------

function reduceRows(ctx: GpuContext, kind: ReduceKind, x: GpuTensor, out?: GpuTensor): GpuTensor {
  const kernel = `row${kind[0]!.toUpperCase()}${kind.slice(1)}`;
  requireF32(kernel, x, 'x');
  if (x.shape.length < 2) {
    throw new GpuError(`x must be [..., C] with at least 2 dimensions (use ${kind} for a whole tensor)`, kernel, `x ${x.describe()}`);
  }
  const outShape = x.shape.slice(0, -1);
  const C = x.shape[x.shape.length - 1]!;
  const R = outShape.reduce((a, b) => a * b, 1);
  if (out) checkOut(kernel, x, out, outShape);
  if (C === 0 && kind === 'max' && R > 0) throw new GpuError('max of empty rows is undefined', kernel, `x ${x.describe()}`);
  const result = out ?? ctx.empty(outShape, 'f32', `${kernel} output`);
  if (C === 0) return fill(ctx, result, 0);
  dispatchSegments(ctx, {
    x,
    n: R * C,
    len: C,
    segments: R,
    out: result,
    outOffset: 0,
    square: kind === 'sumSquares',
    max: kind === 'max',
    label: `${kernel} ${x.describe()}`,
  });
  return result;
}

/** Σ over the last dimension: x [..., C] → [...]. */
export function rowSum(ctx: GpuContext, x: GpuTensor, out?: GpuTensor): GpuTensor {
  return reduceRows(ctx, 'sum', x, out);
}

/** Σ x² over the last dimension: x [..., C] → [...]. */
export function rowSumSquares(ctx: GpuContext, x: GpuTensor, out?: GpuTensor): GpuTensor {
  return reduceRows(ctx, 'sumSquares', x, out);
}

/** max over the last dimension: x [..., C] → [...] (C ≥ 1). */
export function rowMax(ctx: GpuContext, x: GpuTensor, out?: GpuTensor): GpuTensor {
  return reduceRows(ctx, 'max', x, out);
}
