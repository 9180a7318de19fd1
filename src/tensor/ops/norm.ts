// Normalisation ops with autograd, over the last dimension of x [B, T, C] (leading dims flattened
// into R rows):
//   layerNorm(x, weight [C], bias [C], eps)  y = (x − μ)/√(var + eps)·w + b   (GPT-2, torch LayerNorm:
//                                             biased variance)
//   rmsNorm(x, weight [C], eps)              y = x/√(mean(x²) + eps)·w         (HF LlamaRMSNorm)
//   rmsNorm(x, weight, eps, { weightOffset: 1 })  y = x/√(mean(x²) + eps)·(1 + w)  (HF Gemma3RMSNorm;
//                                             ∂y/∂w is the same, ∂y/∂x uses 1 + w)
// Per-head norms (Qwen3's and Gemma 3's q_norm / k_norm over q [B, T, H·D]) are this op on a
// reshape to [B, T, H, D] with weight [D].
// Forward saves (μ, rstd) per row, stats [R, 2], in a graph scratch buffer for backward (only
// when a gradient is needed). Backward: dx from one row-parallel kernel, dweight and dbias from
// deterministic column sums; they are accumulated straight into an existing .grad (no
// temporary). The formulas are in shaders/norm.wgsl.
// Not done: HF's Llama computing in f32 then casting back to a half type (everything here is f32).

import { normBackwardInput, normForward, normParamGrad, type NormKind } from '../../kernels/norm';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';

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
    if (x.requiresGrad) g.accumulate(x, normBackwardInput(g.ctx, kind, x.data, weight.data, stats, gy, undefined, weightOffset));
    const params: [Tensor | undefined, 'weight' | 'bias'][] = [
      [weight, 'weight'],
      [bias, 'bias'],
    ];
    for (const [p, which] of params) {
      if (!p?.requiresGrad) continue;
      if (p.grad) normParamGrad(g.ctx, which, x.data, stats, gy, p.grad, true);
      else g.accumulate(p, normParamGrad(g.ctx, which, x.data, stats, gy));
    }
  });
  return y;
}

export function layerNorm(g: Graph, x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  return norm(g, 'layer', x, weight, bias, eps);
}

export function rmsNorm(g: Graph, x: Tensor, weight: Tensor, eps: number, options: RmsNormOptions = {}): Tensor {
  return norm(g, 'rms', x, weight, undefined, eps, options.weightOffset ?? 0);
}
