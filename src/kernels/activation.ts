// Wrapper of shaders/activation.wgsl: elementwise activations, forward and backward, on f32
// tensors of any shape (read as flat arrays of n elements):
//   activationForward(kind, x)          x [...] → y [...]   kind: gelu_tanh | gelu_exact | silu
//   swigluForward(gate, up)             gate, up [...] (same shape) → silu(gate) ⊙ up
//   activationBackward(kind, x, dy)     → dx [...] = dy ⊙ act'(x)
//   swigluBackward(gate, up, dy)        → { dgate, dup } in one dispatch
// The math, the erf construction and its error bound are in the shader's header.
// Not done: in-place variants, dtypes other than f32.

import source from '../../shaders/activation.wgsl?raw';
import { defineShader, type DispatchCost, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('activation', source);

const WORKGROUP_SIZE = 256;

export type ActivationKind = 'gelu_tanh' | 'gelu_exact' | 'silu';

// Values of the shader's KIND override.
const KIND = { gelu_tanh: 0, gelu_exact: 1, silu: 2, swiglu: 3 } as const;

function sameShape(a: GpuTensor, b: GpuTensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/** Validates dtypes, shapes and aliasing; `outputs` name the written operands. */
function check(kernel: string, inputs: Record<string, GpuTensor>, outputs: Record<string, GpuTensor | undefined> = {}): string {
  const written = Object.entries(outputs).filter((e): e is [string, GpuTensor] => e[1] !== undefined);
  const all = [...Object.entries(inputs), ...written];
  const shapes = all.map(([name, t]) => `${name} ${t.describe()}`).join(', ');
  const first = all[0]![1];
  for (const [name, t] of all) {
    if (t.dtype !== 'f32') throw new GpuError(`${name} must be f32, is ${t.dtype}`, kernel, shapes);
    if (!sameShape(first, t)) throw new GpuError('all operands must have the same shape', kernel, shapes);
  }
  for (const [name, t] of written) {
    if (all.filter(([, u]) => u.buffer === t.buffer).length > 1) throw new GpuError(`${name} must not alias another operand`, kernel, shapes);
  }
  return `${kernel} ${shapes}`;
}

interface Run {
  readonly kind: keyof typeof KIND;
  readonly entryPoint: 'activation_forward' | 'activation_backward';
  readonly x: GpuTensor;
  readonly up?: GpuTensor;
  readonly dy?: GpuTensor;
  readonly dx: GpuTensor;
  readonly dup?: GpuTensor;
  readonly label: string;
}

function run(ctx: GpuContext, r: Run): void {
  // Unused read-only slots are bound to x (read-only aliases are legal); the unused writable slot
  // gets the placeholder, which nothing else in the dispatch binds.
  ctx.dispatch({
    shader,
    entryPoint: r.entryPoint,
    constants: { KIND: KIND[r.kind], WG: WORKGROUP_SIZE },
    bindings: { x: r.x, up: r.up ?? r.x, dy: r.dy ?? r.x, dx: r.dx, dup: r.dup ?? ctx.placeholder() },
    params: { n: r.x.size },
    workgroups: gridFor(ctx, r.x.size, WORKGROUP_SIZE),
    label: r.label,
    cost: activationCost(r),
  });
}

// Approximate FLOPs per element, counting exp/tanh/erf as one each: silu x/(1+e^−x) 4,
// gelu (tanh form) 9, gelu (erf form, with its polynomial) 20; backward about twice that; SwiGLU
// adds the product with `up`.
const FORWARD_FLOPS = { gelu_tanh: 9, gelu_exact: 20, silu: 4, swiglu: 5 } as const;

/** FLOPs (estimated, see above) and every operand read or written once. */
function activationCost(r: Run): DispatchCost {
  const n = r.x.size;
  const backward = r.entryPoint === 'activation_backward';
  const operands = 2 + (r.up ? 1 : 0) + (r.dy ? 1 : 0) + (r.dup ? 1 : 0);
  return { flops: n * FORWARD_FLOPS[r.kind] * (backward ? 2 : 1), bytes: 4 * n * operands };
}

/** y = act(x), elementwise; writes into `out` when given (same shape as x, not aliasing it). */
export function activationForward(ctx: GpuContext, kind: ActivationKind, x: GpuTensor, out?: GpuTensor): GpuTensor {
  const label = check(kind, { x }, { out });
  const y = out ?? ctx.empty(x.shape, 'f32', `${kind} output`);
  run(ctx, { kind, entryPoint: 'activation_forward', x, dx: y, label });
  return y;
}

/** dx = dy ⊙ act'(x). */
export function activationBackward(ctx: GpuContext, kind: ActivationKind, x: GpuTensor, dy: GpuTensor, out?: GpuTensor): GpuTensor {
  const label = check(`${kind} backward`, { x, dy }, { out });
  const dx = out ?? ctx.empty(x.shape, 'f32', `${kind} dx`);
  run(ctx, { kind, entryPoint: 'activation_backward', x, dy, dx, label });
  return dx;
}

/** y = silu(gate) ⊙ up (Llama's MLP), one dispatch. */
export function swigluForward(ctx: GpuContext, gate: GpuTensor, up: GpuTensor, out?: GpuTensor): GpuTensor {
  const label = check('swiglu', { gate, up }, { out });
  const y = out ?? ctx.empty(gate.shape, 'f32', 'swiglu output');
  run(ctx, { kind: 'swiglu', entryPoint: 'activation_forward', x: gate, up, dx: y, label });
  return y;
}

/** dgate = dy ⊙ up ⊙ silu'(gate), dup = dy ⊙ silu(gate), one dispatch. */
export function swigluBackward(ctx: GpuContext, gate: GpuTensor, up: GpuTensor, dy: GpuTensor): { dgate: GpuTensor; dup: GpuTensor } {
  const label = check('swiglu backward', { gate, up, dy });
  const dgate = ctx.empty(gate.shape, 'f32', 'swiglu dgate');
  const dup = ctx.empty(gate.shape, 'f32', 'swiglu dup');
  run(ctx, { kind: 'swiglu', entryPoint: 'activation_backward', x: gate, up, dy, dx: dgate, dup, label });
  return { dgate, dup };
}
