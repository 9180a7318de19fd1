// Elementwise ops with autograd on same-shape tensors (no broadcasting), and reshape:
//   add(a, b)        y = a + b           (residual connections; a, b [B, T, C])
//   mul(a, b)        y = a ⊙ b
//   reshape(x, s)    y = x under shape s (same element count, row-major order kept; one entry
//                    of s may be −1 and is then inferred)
// Backward (dy = ∂L/∂y): add: da = db = dy; mul: da = dy ⊙ b, db = dy ⊙ a; reshape: dx = dy viewed
// as x's shape.
// Ownership: the graph releases an op output's gradient right after that op's backward, so dy is
// never handed on as an input's gradient: it is copied into a new tensor (or added into an
// existing .grad in place). reshape's forward is free: its output is a view of x's buffer
// (views are never released themselves, so x's owner keeps the memory). Kernels come from
// src/kernels/elementwise.ts; there is no WGSL of its own.

import { add as addKernel, addInto, copy, mul as mulKernel, mulInto } from '../../kernels/elementwise';
import type { GpuTensor } from '../../gpu/tensor';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Adds dy into t's gradient, copying (never aliasing) dy. */
function accumulateCopy(g: Graph, t: Tensor, dy: GpuTensor): void {
  if (!t.requiresGrad) return;
  const source = dy.shape.join(',') === t.shape.join(',') ? dy : dy.view(t.shape);
  if (t.grad) addInto(g.ctx, t.grad, t.grad, source);
  else g.accumulate(t, copy(g.ctx, source, g.ctx.empty(t.shape, 'f32', 'gradient copy')));
}

export function add(g: Graph, a: Tensor, b: Tensor): Tensor {
  const y = g.output(addKernel(g.ctx, a.data, b.data), [a, b], 'add');
  g.record('add', y, (gy) => {
    accumulateCopy(g, a, gy);
    accumulateCopy(g, b, gy);
  });
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
  g.record('reshape', y, (gy) => accumulateCopy(g, x, gy));
  return y;
}

/** shape with a −1 entry inferred; throws unless it has exactly x's element count. */
export function resolveShape(from: readonly number[], shape: readonly number[]): number[] {
  const size = from.reduce((p, d) => p * d, 1);
  const inferred = shape.filter((d) => d === -1).length;
  const bad = () => new Error(`reshape: cannot view ${shapeText(from)} (${size} elements) as ${shapeText(shape)}`);
  if (inferred > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) throw bad();
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  if (inferred === 1) {
    if (known === 0 || size % known !== 0) throw bad();
    return shape.map((d) => (d === -1 ? size / known : d));
  }
  if (known !== size) throw bad();
  return [...shape];
}
