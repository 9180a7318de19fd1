// Wrapper of shaders/elementwise.wgsl: elementwise f32 ops on tensors of any shape, read as flat
// row-major arrays of n elements.
//   add / sub / mul (a, b same shape) → same shape;  scale(a, s) → a's shape;
//   axpy(alpha, x, y): y += alpha·x in place;  fill(t, value);  copy(src, dst) (same element count,
//   so it also reshapes);  addRowVector(a [..., C], v [C]) → a's shape (bias add).
// The `…Into(out, …)` forms write into an existing tensor, which may be one of the inputs (in
// place). No general broadcasting, no dtypes other than f32.
//
// workgroupGrid() lays a 1-D count of workgroups out in 2-D under the per-dimension limit; other
// kernels with one invocation (or one workgroup) per item use it too.

import source from '../../shaders/elementwise.wgsl?raw';
import { defineShader, type DispatchCost, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';

const shader = defineShader('elementwise', source);

/** Invocations per workgroup (the shader's WG override). */
export const ELEMENTWISE_WORKGROUP_SIZE = 256;

/** WebGPU's default maxComputeWorkgroupsPerDimension. */
export const DEFAULT_MAX_WORKGROUPS_PER_DIMENSION = 65535;

// Values of the shader's OP override (its OP_* constants).
const OP = { add: 0, sub: 1, mul: 2, scale: 3, axpy: 4, fill: 5, copy: 6, addRow: 7, mulRow: 8, sign: 9 } as const;
type Op = keyof typeof OP;

/**
 * Lays `groups` workgroups out as [x, y] with x, y ≤ maxPerDimension and x·y ≥ groups (x·y − groups
 * < y, so the overshoot is under one row). The shader recovers the flat workgroup index as
 * wid.y · nwg.x + wid.x and drops indices past the end.
 */
export function workgroupGrid(groups: number, maxPerDimension = DEFAULT_MAX_WORKGROUPS_PER_DIMENSION): [number, number] {
  if (!Number.isInteger(groups) || groups < 0) throw new GpuError(`workgroup count ${groups} is not a non-negative integer`, 'workgroupGrid');
  if (groups <= maxPerDimension) return [groups, 1];
  const y = Math.ceil(groups / maxPerDimension);
  if (y > maxPerDimension) {
    throw new GpuError(`${groups} workgroups do not fit a ${maxPerDimension}×${maxPerDimension} grid`, 'workgroupGrid');
  }
  return [Math.ceil(groups / y), y];
}

/** The 2-D grid covering `items` items at `itemsPerGroup` per workgroup on this device. */
export function gridFor(ctx: GpuContext, items: number, itemsPerGroup: number): [number, number] {
  return workgroupGrid(Math.ceil(items / itemsPerGroup), ctx.device.limits.maxComputeWorkgroupsPerDimension);
}

function shapeOf(name: string, t: GpuTensor): string {
  return `${name} ${t.describe()}`;
}

function requireF32(kernel: string, shapes: string, named: Record<string, GpuTensor>): void {
  for (const [name, t] of Object.entries(named)) {
    if (t.dtype !== 'f32') throw new GpuError(`${name} must be f32, is ${t.dtype}`, kernel, shapes);
  }
}

function sameShape(x: GpuTensor, y: GpuTensor): boolean {
  return x.shape.length === y.shape.length && x.shape.every((d, i) => d === y.shape[i]);
}

interface Run {
  readonly op: Op;
  readonly dst: GpuTensor;
  readonly a?: GpuTensor;
  readonly b?: GpuTensor;
  readonly alpha?: number;
  readonly value?: number;
  readonly cols?: number;
  readonly label: string;
}

function run(ctx: GpuContext, r: Run): GpuTensor {
  const { dst } = r;
  // An input that is the output is read through dst (see the shader's header).
  const aIsDst = r.a !== undefined && r.a.buffer === dst.buffer;
  const bIsDst = r.b !== undefined && r.b.buffer === dst.buffer;
  ctx.dispatch({
    shader,
    entryPoint: 'elementwise',
    constants: { OP: OP[r.op], A_IS_DST: aIsDst, B_IS_DST: bIsDst, WG: ELEMENTWISE_WORKGROUP_SIZE },
    bindings: {
      a: r.a && !aIsDst ? r.a : ctx.placeholder(),
      b: r.b && !bIsDst ? r.b : ctx.placeholder(),
      dst,
    },
    params: { n: dst.size, cols: r.cols ?? 1, alpha: r.alpha ?? 0, value: r.value ?? 0 },
    workgroups: gridFor(ctx, dst.size, ELEMENTWISE_WORKGROUP_SIZE),
    label: r.label,
    cost: elementwiseCost(r),
  });
  return dst;
}

/** One FLOP per element (axpy two; fill and copy none); every operand read once, dst written once. */
function elementwiseCost(r: Run): DispatchCost {
  const n = r.dst.size;
  const rowOp = r.op === 'addRow' || r.op === 'mulRow';
  const flops = r.op === 'fill' || r.op === 'copy' ? 0 : r.op === 'axpy' ? 2 * n : n;
  const reads = (r.a ? n : 0) + (r.b ? (rowOp ? (r.cols ?? 1) : n) : 0) + (r.op === 'axpy' ? n : 0);
  return { flops, bytes: 4 * (reads + n) };
}

// ---- binary ops: add, sub, mul ------------------------------------------------------------------

const SYMBOL = { add: '+', sub: '−', mul: '⊙' } as const;

function checkBinary(kernel: 'add' | 'sub' | 'mul', a: GpuTensor, b: GpuTensor, out?: GpuTensor): string {
  const shapes = `${shapeOf('a', a)}, ${shapeOf('b', b)}${out ? `, ${shapeOf('out', out)}` : ''}`;
  requireF32(kernel, shapes, out ? { a, b, out } : { a, b });
  if (!sameShape(a, b)) throw new GpuError('operands must have the same shape (no broadcasting)', kernel, shapes);
  if (out && !sameShape(a, out)) throw new GpuError(`output must be ${a.describe()}`, kernel, shapes);
  return `${kernel} ${a.describe()}${SYMBOL[kernel]}${b.describe()}`;
}

function binaryInto(ctx: GpuContext, op: 'add' | 'sub' | 'mul', out: GpuTensor, a: GpuTensor, b: GpuTensor): GpuTensor {
  const label = checkBinary(op, a, b, out);
  return run(ctx, { op, dst: out, a, b, label });
}

function binary(ctx: GpuContext, op: 'add' | 'sub' | 'mul', a: GpuTensor, b: GpuTensor): GpuTensor {
  checkBinary(op, a, b);
  return binaryInto(ctx, op, ctx.empty(a.shape, 'f32', `${op} output`), a, b);
}

/** a + b, same shapes. */
export function add(ctx: GpuContext, a: GpuTensor, b: GpuTensor): GpuTensor {
  return binary(ctx, 'add', a, b);
}

/** out = a + b; out may be a or b. */
export function addInto(ctx: GpuContext, out: GpuTensor, a: GpuTensor, b: GpuTensor): GpuTensor {
  return binaryInto(ctx, 'add', out, a, b);
}

/** a − b, same shapes. */
export function sub(ctx: GpuContext, a: GpuTensor, b: GpuTensor): GpuTensor {
  return binary(ctx, 'sub', a, b);
}

/** out = a − b; out may be a or b. */
export function subInto(ctx: GpuContext, out: GpuTensor, a: GpuTensor, b: GpuTensor): GpuTensor {
  return binaryInto(ctx, 'sub', out, a, b);
}

/** a ⊙ b (Hadamard product), same shapes. */
export function mul(ctx: GpuContext, a: GpuTensor, b: GpuTensor): GpuTensor {
  return binary(ctx, 'mul', a, b);
}

/** out = a ⊙ b; out may be a or b. */
export function mulInto(ctx: GpuContext, out: GpuTensor, a: GpuTensor, b: GpuTensor): GpuTensor {
  return binaryInto(ctx, 'mul', out, a, b);
}

// ---- scale, axpy ------------------------------------------------------------------------------

function checkScale(a: GpuTensor, s: number, out?: GpuTensor): string {
  const shapes = `${shapeOf('a', a)}${out ? `, ${shapeOf('out', out)}` : ''}`;
  requireF32('scale', shapes, out ? { a, out } : { a });
  if (out && !sameShape(a, out)) throw new GpuError(`output must be ${a.describe()}`, 'scale', shapes);
  if (!Number.isFinite(s)) throw new GpuError(`scale factor ${s} is not finite`, 'scale', shapes);
  return `scale ${a.describe()}·${s}`;
}

/** s · a. */
export function scale(ctx: GpuContext, a: GpuTensor, s: number): GpuTensor {
  checkScale(a, s);
  return scaleInto(ctx, ctx.empty(a.shape, 'f32', 'scale output'), a, s);
}

/** out = s · a; out may be a (in-place scaling). */
export function scaleInto(ctx: GpuContext, out: GpuTensor, a: GpuTensor, s: number): GpuTensor {
  const label = checkScale(a, s, out);
  return run(ctx, { op: 'scale', dst: out, a, alpha: s, label });
}

/** y += alpha · x, in place (x and y same shape); returns y. */
export function axpy(ctx: GpuContext, alpha: number, x: GpuTensor, y: GpuTensor): GpuTensor {
  const shapes = `${shapeOf('x', x)}, ${shapeOf('y', y)}`;
  requireF32('axpy', shapes, { x, y });
  if (!sameShape(x, y)) throw new GpuError('x and y must have the same shape', 'axpy', shapes);
  if (!Number.isFinite(alpha)) throw new GpuError(`alpha ${alpha} is not finite`, 'axpy', shapes);
  return run(ctx, { op: 'axpy', dst: y, a: x, alpha, label: `axpy ${y.describe()}+=${alpha}·${x.describe()}` });
}

/** out = alpha · sign(a) (sign(0) = 0); out may be a. */
export function signScaledInto(ctx: GpuContext, out: GpuTensor, a: GpuTensor, alpha: number): GpuTensor {
  const shapes = `${shapeOf('a', a)}, ${shapeOf('out', out)}`;
  requireF32('signScaled', shapes, { a, out });
  if (!sameShape(a, out)) throw new GpuError(`output must be ${a.describe()}`, 'signScaled', shapes);
  return run(ctx, { op: 'sign', dst: out, a, alpha, label: `signScaled ${a.describe()}·${alpha}` });
}

// ---- fill, copy -------------------------------------------------------------------------------

/** Sets every element of t to value; returns t. */
export function fill(ctx: GpuContext, t: GpuTensor, value: number): GpuTensor {
  requireF32('fill', shapeOf('t', t), { t });
  return run(ctx, { op: 'fill', dst: t, value, label: `fill ${t.describe()}=${value}` });
}

/** dst = src element by element; the shapes may differ if the element counts agree. Returns dst. */
export function copy(ctx: GpuContext, src: GpuTensor, dst: GpuTensor): GpuTensor {
  const shapes = `${shapeOf('src', src)}, ${shapeOf('dst', dst)}`;
  requireF32('copy', shapes, { src, dst });
  if (src.size !== dst.size) throw new GpuError(`element counts differ (${src.size} vs ${dst.size})`, 'copy', shapes);
  if (src.buffer === dst.buffer) return dst;
  return run(ctx, { op: 'copy', dst, a: src, label: `copy ${src.describe()}→${dst.describe()}` });
}

// ---- addRowVector -----------------------------------------------------------------------------

function checkRowOp(kernel: 'addRowVector' | 'mulRowVector', a: GpuTensor, v: GpuTensor, out?: GpuTensor): string {
  const shapes = `${shapeOf('a', a)}, ${shapeOf('v', v)}${out ? `, ${shapeOf('out', out)}` : ''}`;
  requireF32(kernel, shapes, out ? { a, v, out } : { a, v });
  const C = a.shape[a.shape.length - 1];
  if (C === undefined) throw new GpuError('a must have at least one dimension', kernel, shapes);
  if (v.size !== C || v.shape.length !== 1) throw new GpuError(`v must be [${C}] (the last dimension of a)`, kernel, shapes);
  if (out && !sameShape(a, out)) throw new GpuError(`output must be ${a.describe()}`, kernel, shapes);
  return `${kernel} ${a.describe()}${kernel === 'addRowVector' ? '+' : '⊙'}${v.describe()}`;
}

/** a [..., C] + v [C] broadcast over every row (bias add). */
export function addRowVector(ctx: GpuContext, a: GpuTensor, v: GpuTensor): GpuTensor {
  checkRowOp('addRowVector', a, v);
  return addRowVectorInto(ctx, ctx.empty(a.shape, 'f32', 'addRowVector output'), a, v);
}

/** out [..., C] = a [..., C] + v [C]; out may be a. */
export function addRowVectorInto(ctx: GpuContext, out: GpuTensor, a: GpuTensor, v: GpuTensor): GpuTensor {
  const label = checkRowOp('addRowVector', a, v, out);
  const cols = a.shape[a.shape.length - 1]!;
  return run(ctx, { op: 'addRow', dst: out, a, b: v, cols: Math.max(cols, 1), label });
}

/** out [..., C] = a [..., C] ⊙ v [C] (column j scaled by v[j]); out may be a. */
export function mulRowVectorInto(ctx: GpuContext, out: GpuTensor, a: GpuTensor, v: GpuTensor): GpuTensor {
  const label = checkRowOp('mulRowVector', a, v, out);
  const cols = a.shape[a.shape.length - 1]!;
  return run(ctx, { op: 'mulRow', dst: out, a, b: v, cols: Math.max(cols, 1), label });
}
