// Elementwise ops with autograd on same-shape tensors (no broadcasting), and reshape:
//   add(a, b)        y = a + b           (residual connections; a, b [B, T, C])
//   mul(a, b)        y = a ⊙ b
//   reshape(x, s)    y = x under shape s (same element count, row-major order kept; one entry
//                    of s may be −1 and is then inferred)
// Backward (dy = ∂L/∂y): add: da = db = dy; mul: da = dy ⊙ b, db = dy ⊙ a; reshape: dx = dy viewed
// as x's shape.
// Ownership: add and reshape pass dy on unchanged. dy is added in place into an input's existing
// .grad; the first input without one takes dy's buffer itself as its gradient (ownership moves
// from y to that input: the closure clears y.grad, and the graph then does not release it);
// only a second input without a gradient gets a copy. So add's backward costs at most one copy
// (it used to copy dy into both inputs: 68 copies per LoRA step of the built-in model) and
// reshape's none; the values are the same bit for bit. reshape's forward is free too: its output
// is a view of x's buffer (views are never released themselves, so x's owner keeps the memory).
// Kernels come from src/kernels/elementwise.ts; there is no WGSL of its own.

import { add as addKernel, addInto, copy, mul as mulKernel, mulInto } from '../../kernels/elementwise';
import { GpuTensor } from '../../gpu/tensor';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { InternalError } from '../../errors';

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Adds dy = y.grad, unchanged, into the gradient of each input (in place into an existing .grad),
 * handing dy's buffer itself to the first input that has none and copying it for any later one
 * (see the header). Safe because every kernel runs in recording order: the adds and the copy
 * below read dy before the new owner's own backward (later on the tape) can write into it.
 */
export function passGradient(g: Graph, y: Tensor, dy: GpuTensor, inputs: readonly Tensor[]): void {
  // A view owns no buffer, and a leaf's gradient outlives the step: neither can be handed on.
  let handedOn = dy.isView || y.isLeaf || y.grad !== dy;
  for (const t of inputs) {
    if (!t.requiresGrad) continue;
    const same = dy.shape.length === t.shape.length && dy.shape.every((d, i) => d === t.shape[i]);
    if (t.grad) {
      addInto(g.ctx, t.grad, t.grad, same ? dy : dy.view(t.shape));
    } else if (!handedOn) {
      handedOn = true;
      y.grad = undefined; // the graph releases y.grad only while it is still dy
      // reshape: a new owning handle on the same pooled buffer under x's shape; dy's handle is
      // dropped without being released, so the buffer is released once, through t.grad.
      t.grad = same ? dy : new GpuTensor(dy.entry, t.shape, dy.dtype);
    } else {
      g.accumulate(t, copy(g.ctx, same ? dy : dy.view(t.shape), g.ctx.empty(t.shape, 'f32', 'gradient copy')));
    }
  }
}

export function add(g: Graph, a: Tensor, b: Tensor): Tensor {
  const y = g.output(addKernel(g.ctx, a.data, b.data), [a, b], 'add');
  g.record('add', y, (gy) => passGradient(g, y, gy, [a, b]));
  return y;
}

export function mul(g: Graph, a: Tensor, b: Tensor): Tensor {
  const y = g.output(mulKernel(g.ctx, a.data, b.data), [a, b], 'mul');
  g.record('mul', y, (gy) => {
    // When a and b are the same tensor both terms land in its gradient: d(a²) = 2a·dy.
    for (const [t, other] of [
      [a, b],
      [b, a],
    ] as const) {
      if (!t.requiresGrad) continue;
      if (t.grad) {
        const product = mulKernel(g.ctx, gy, other.data);
        addInto(g.ctx, t.grad, t.grad, product);
        g.ctx.release(product);
      } else {
        g.accumulate(t, mulInto(g.ctx, g.ctx.empty(t.shape, 'f32', 'mul grad'), gy, other.data));
      }
    }
  });
  return y;
}

export function reshape(g: Graph, x: Tensor, shape: readonly number[]): Tensor {
  const resolved = resolveShape(x.shape, shape);
  const y = g.output(x.data.view(resolved), [x], 'reshape');
  g.record('reshape', y, (gy) => passGradient(g, y, gy, [x]));
  return y;
}

/** shape with a −1 entry inferred; throws unless it has exactly x's element count. */
export function resolveShape(from: readonly number[], shape: readonly number[]): number[] {
  const size = from.reduce((p, d) => p * d, 1);
  const inferred = shape.filter((d) => d === -1).length;
  const bad = () => new InternalError(`reshape: cannot view ${shapeText(from)} (${size} elements) as ${shapeText(shape)}`);
  if (inferred > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) throw bad();
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  if (inferred === 1) {
    if (known === 0 || size % known !== 0) throw bad();
    return shape.map((d) => (d === -1 ? size / known : d));
  }
  if (known !== size) throw bad();
  return [...shape];
}
