// Normalisation ops with autograd, over the last dimension of x [B, T, C] (leading dims flattened
// into R rows):
//   layerNorm(x, weight [C], bias [C], eps)  y = (x − μ)/√(var + eps)·w + b   (GPT-2, torch LayerNorm:
//                                             biased variance)
//   rmsNorm(x, weight [C], eps)              y = x/√(mean(x²) + eps)·w         (HF LlamaRMSNorm)
//   rmsNorm(x, weight, eps, { weightOffset: 1 })  y = x/√(mean(x²) + eps)·(1 + w)  (HF Gemma3RMSNorm;
//                                             ∂y/∂w is the same, ∂y/∂x uses 1 + w)
// Per-head norms (Qwen3's and Gemma 3's q_norm / k_norm over q [B, T, H·D]) are this op on a
// reshape to [B, T, H, D] with weight [D].
//   addRmsNorm(a, b, weight, eps) / addLayerNorm(a, b, weight, bias, eps) → { sum: s = a + b,
//                                             normed: norm(s) }: a residual add and the norm that
//                                             reads it, in one dispatch that writes both.
// The fused backward: ∂L/∂s = ds + norm-backward(dn), with ds the gradient s gets from its own
// consumers (all recorded later, so complete when this op's turn comes). One dispatch computes it
// in place in ds's buffer (which then becomes a's gradient, handed on without a copy as add does)
// and writes (or adds) the same values into b's gradient: what was norm backward + add-into +
// copy. Forward and backward equal add followed by the norm up to the order of one f32 addition.
// Forward saves (μ, rstd) per row, stats [R, 2], in a graph scratch buffer for backward (only
// when a gradient is needed). Backward: dx from one row-parallel kernel, dweight and dbias from
// deterministic column sums; they are accumulated straight into an existing .grad (no
// temporary). The formulas are in shaders/norm.wgsl.
// Not done: HF's Llama computing in f32 then casting back to a half type (everything here is f32).

import { addInto, copy } from '../../kernels/elementwise';
import { addNormForward, normBackwardInput, normForward, normParamGrad, type NormKind, type SecondGradient } from '../../kernels/norm';
import type { GpuTensor } from '../../gpu/tensor';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { passGradient } from './elementwiseOps';

export interface RmsNormOptions {
  /** 1: scale by (1 + weight) (Gemma); 0 (default): by weight. */
  readonly weightOffset?: 0 | 1;
}

function norm(g: Graph, kind: NormKind, x: Tensor, weight: Tensor, bias: Tensor | undefined, eps: number, weightOffset: 0 | 1 = 0): Tensor {
  const C = x.shape[x.shape.length - 1] ?? 0;
  const R = C > 0 ? x.data.size / C : 0;
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const needsGrad = g.gradEnabled && inputs.some((t) => t.requiresGrad);
  // Without a backward pass the stats are dead after the dispatch: a pool buffer released at once.
  const stats = needsGrad ? g.scratch([R, 2], `${kind}Norm stats`) : g.ctx.empty([R, 2], 'f32', `${kind}Norm stats`);
  let yData;
  try {
    yData = normForward(g.ctx, kind, x.data, weight.data, bias?.data, eps, stats, undefined, weightOffset);
  } finally {
    if (!needsGrad) g.ctx.release(stats);
  }
  const name = kind === 'rms' ? 'rmsNorm' : 'layerNorm';
  const y = g.output(yData, inputs, name);
  g.record(name, y, (gy) => {
    if (x.requiresGrad) {
      // An existing gradient takes dx in place (the kernel adds): no temporary, no add-into.
      if (x.grad && x.grad.buffer !== gy.buffer) normBackwardInput(g.ctx, kind, x.data, weight.data, stats, gy, x.grad, weightOffset, { accumulate: true });
      else g.accumulate(x, normBackwardInput(g.ctx, kind, x.data, weight.data, stats, gy, undefined, weightOffset));
    }
    paramGrads(g, x.data, weight, bias, stats, gy);
  });
  return y;
}

/** ∂L/∂weight and ∂L/∂bias of a norm of x from its output gradient dy. */
function paramGrads(g: Graph, x: GpuTensor, weight: Tensor, bias: Tensor | undefined, stats: GpuTensor, dy: GpuTensor): void {
  const params: [Tensor | undefined, 'weight' | 'bias'][] = [
    [weight, 'weight'],
    [bias, 'bias'],
  ];
  for (const [p, which] of params) {
    if (!p?.requiresGrad) continue;
    if (p.grad) normParamGrad(g.ctx, which, x, stats, dy, p.grad, true);
    else g.accumulate(p, normParamGrad(g.ctx, which, x, stats, dy));
  }
}

export interface AddNormResult {
  /** s = a + b (the residual stream). */
  readonly sum: Tensor;
  /** norm(s). */
  readonly normed: Tensor;
}

function addNorm(
  g: Graph,
  kind: NormKind,
  a: Tensor,
  b: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  eps: number,
  weightOffset: 0 | 1 = 0,
): AddNormResult {
  const C = a.shape[a.shape.length - 1] ?? 0;
  const R = C > 0 ? a.data.size / C : 0;
  const needsGrad = g.gradEnabled && [a, b, weight, bias].some((t) => t?.requiresGrad);
  const stats = needsGrad ? g.scratch([R, 2], `add+${kind}Norm stats`) : g.ctx.empty([R, 2], 'f32', `add+${kind}Norm stats`);
  let result;
  try {
    result = addNormForward(g.ctx, kind, a.data, b.data, weight.data, bias?.data, eps, stats, weightOffset);
  } finally {
    if (!needsGrad) g.ctx.release(stats);
  }
  const sum = g.output(result.sum, [a, b], 'add');
  const name = kind === 'rms' ? 'rmsNorm' : 'layerNorm';
  const normed = g.output(result.y, bias ? [sum, weight, bias] : [sum, weight], name);
  // Runs only when the norm's output got no gradient (otherwise the fused backward below, which
  // runs first, consumed s's gradient and cleared it).
  g.record('add', sum, (ds) => passGradient(g, sum, ds, [a, b]));
  g.record(`add+${name}`, normed, (dn) => {
    paramGrads(g, sum.data, weight, bias, stats, dn);
    if (sum.requiresGrad) sumGradients(g, kind, sum, [a, b], weight.data, stats, dn, weightOffset);
  });
  return { sum, normed };
}

/**
 * Gives each of `inputs` (a and b of s = a + b) the gradient ds + dx, dx = norm-backward(dn), and
 * clears s.grad (ds, which it consumes). One dispatch in the usual case (see the header).
 */
function sumGradients(
  g: Graph,
  kind: NormKind,
  sum: Tensor,
  inputs: readonly Tensor[],
  weight: GpuTensor,
  stats: GpuTensor,
  dn: GpuTensor,
  offset: 0 | 1,
): void {
  const ds = sum.grad;
  sum.grad = undefined;
  // The total is built in ds's own buffer when s owns it; a view belongs to another tensor.
  let total: GpuTensor;
  if (!ds) total = g.ctx.empty(sum.shape, 'f32', 'add+norm gradient');
  else if (ds.isView) total = copy(g.ctx, ds, g.ctx.empty(sum.shape, 'f32', 'add+norm gradient'));
  else total = ds;
  const targets = inputs.filter((t) => t.requiresGrad);
  const taker = targets.find((t) => !t.grad);
  const rest = [...targets];
  if (taker) rest.splice(rest.indexOf(taker), 1);
  // a = b (s = 2a) without a gradient: the one tensor takes the total, then adds it to itself below.
  const secondTarget = rest[0] !== taker ? rest[0] : undefined;
  let second: SecondGradient | undefined;
  if (secondTarget)
    second = secondTarget.grad ? { out: secondTarget.grad, mode: 'add' } : { out: g.ctx.empty(sum.shape, 'f32', 'add+norm gradient'), mode: 'write' };
  normBackwardInput(g.ctx, kind, sum.data, weight, stats, dn, total, offset, { accumulate: ds !== undefined, ...(second ? { second } : {}) });
  if (secondTarget && second?.mode === 'write') secondTarget.grad = second.out;
  if (taker) taker.grad = total;
  for (const t of rest.slice(secondTarget ? 1 : 0)) addInto(g.ctx, t.grad!, t.grad!, total);
  if (!taker) g.ctx.release(total);
}

export function layerNorm(g: Graph, x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  return norm(g, 'layer', x, weight, bias, eps);
}

export function rmsNorm(g: Graph, x: Tensor, weight: Tensor, eps: number, options: RmsNormOptions = {}): Tensor {
  return norm(g, 'rms', x, weight, undefined, eps, options.weightOffset ?? 0);
}

/** s = a + b and layerNorm(s) in one dispatch (a, b [..., C]). */
export function addLayerNorm(g: Graph, a: Tensor, b: Tensor, weight: Tensor, bias: Tensor, eps: number): AddNormResult {
  return addNorm(g, 'layer', a, b, weight, bias, eps);
}

/** s = a + b and rmsNorm(s) in one dispatch (a, b [..., C]). */
export function addRmsNorm(g: Graph, a: Tensor, b: Tensor, weight: Tensor, eps: number, options: RmsNormOptions = {}): AddNormResult {
  return addNorm(g, 'rms', a, b, weight, undefined, eps, options.weightOffset ?? 0);
}
