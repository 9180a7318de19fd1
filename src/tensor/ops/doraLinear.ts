// DoRA's adapted linear layer (Liu et al. 2024, eq. 5; PEFT tuners/lora/dora.py DoraLinearLayer):
//   y [N, out] = c ⊙ (x Wᵀ + s·(x Aᵀ) Bᵀ) (+ b),   c = m / ‖W + sBA‖_row   [out]
// with W [out, in] frozen, A [r, in], B [out, r], m [out] trainable, b [out] the base's bias, which
// DoRA does not rescale (PEFT subtracts it from the base result before scaling). ‖·‖_row is the
// L2 norm of each output row over the input dimension (PEFT: torch.linalg.norm(W + sBA, dim=1)
// for nn.Linear's [out, in]). x may have leading dimensions ([B, T, in]); they are flattened into N.
// It is PEFT's forward regrouped: base + (c − 1)⊙(x Wᵀ) + c⊙s·(x Aᵀ)Bᵀ = c⊙(x Wᵀ + s (x Aᵀ)Bᵀ) + b,
// computing x Wᵀ once and never forming W + sBA: the norms come from kernels/dora.ts doraNormSq
// ([out, r] and [r, r] temporaries per step).
// The norm is a constant in backward (paper §4.3; PEFT detaches weight_norm), so with
// G = ∂L/∂y, z = x Wᵀ + s (x Aᵀ) Bᵀ, h = x Aᵀ, G_c = G ⊙ c (column-wise):
//   ∂L/∂m = (1ᵀ (G ⊙ z)) / ‖·‖,   ∂L/∂B = s G_cᵀ h,   ∂L/∂A = s (G_c B)ᵀ x,
//   ∂L/∂x = G_c W + s (G_c B) A,  ∂L/∂b = 1ᵀ G.
// Saved for backward: h [N, r], z [N, out], ‖·‖² [out], c [out] (graph scratch, released at dispose).
// Exact at init: with B = 0 and m set from the same norm (doraInitialMagnitude), c is exactly 1
// (shaders/dora.wgsl) and z is x Wᵀ bit for bit, so y equals linear(x, W, b).
// `normSq` hands in ‖W + sBA‖² computed earlier (held constant, as PEFT's DoRA cache does in eval
// mode); otherwise it is computed from the current factors. `wsq` = ‖W_i‖² [out] (rowSumSquares(W)).
// W may be packed 16-bit (a frozen bf16/f16 checkpoint): every product reads it packed; ‖W_i‖² and
// the merge expand it to f32 once.
// Also here: doraInitialMagnitude (wsq and m = ‖W_i‖ from the same kernels the forward uses, so
// m / ‖W + s·0·A‖ is exactly 1), doraNormSq (the norms as a tensor, to hold), and mergeDora
// (W' formed densely once: W + sBA, its row norms, rows scaled in place; PEFT's merge_safe).

import type { GpuTensor } from '../../gpu/tensor';
import { doraNorm, doraNormSq as doraNormSqKernel, doraOverNorm, scaleRowsInPlace } from '../../kernels/dora';
import { addRowVectorInto, copy, mul as mulKernel, mulRowVectorInto } from '../../kernels/elementwise';
import { matmulInto } from '../../kernels/matmul';
import { rowSumSquares } from '../../kernels/reduce';
import type { Graph } from '../graph';
import { gpuContextOf } from '../gpuContextOf';
import type { Runtime } from '../runtime';
import { Tensor } from '../tensor';
import { expandedWeight, releaseTensors } from '../values';
import { InternalError } from '../../errors';

export interface DoraOptions {
  readonly bias?: Tensor;
  /** ‖W + sBA‖² [out] to use instead of computing it from the factors now (held norms). */
  readonly normSq?: Tensor;
}

/** ‖W_i‖² [out] (frozen) and the magnitude DoRA starts from, m = ‖W_i‖ (trainable): new leaves, the caller's. */
export function doraInitialMagnitude(rt: Runtime, W: Tensor, name: string): { wsq: Tensor; m: Tensor } {
  const ctx = gpuContextOf(rt);
  const dense = expandedWeight(ctx, W);
  const wsq = rowSumSquares(ctx, dense.tensor.data);
  if (dense.owned) releaseTensors(ctx, dense.tensor);
  return { wsq: Tensor.leaf(wsq, false, `${name} ‖W‖²`), m: Tensor.leaf(doraNorm(ctx, wsq), true, name) };
}

/** ‖W_i + s(BA)_i‖² [out] from the factors now, without forming W + sBA (a new frozen leaf). */
export function doraNormSq(rt: Runtime, W: Tensor, A: Tensor, B: Tensor, s: number, wsq: Tensor): Tensor {
  return Tensor.leaf(doraNormSqKernel(gpuContextOf(rt), W.data, A.data, B.data, s, wsq.data), false, 'DoRA ‖W + sBA‖²');
}

/** W' = diag(m / ‖W + sBA‖_row)(W + sBA) [out, in], formed densely (PEFT's merge), as a new frozen leaf. */
export function mergeDora(rt: Runtime, W: Tensor, A: Tensor, B: Tensor, m: Tensor, s: number, name: string): Tensor {
  const ctx = gpuContextOf(rt);
  const dense = expandedWeight(ctx, W);
  const merged = copy(ctx, dense.tensor.data, ctx.empty(W.shape, 'f32', name));
  if (dense.owned) releaseTensors(ctx, dense.tensor);
  matmulInto(ctx, B.data, A.data, merged, { alpha: s, accumulate: true });
  const nsq = rowSumSquares(ctx, merged);
  const scale = doraOverNorm(ctx, m.data, nsq, true);
  scaleRowsInPlace(ctx, merged, scale);
  ctx.release(nsq, scale);
  return Tensor.leaf(merged, false, name);
}

/** Hands a tensor an op made for itself to the graph, which releases it at dispose(). */
function adopt(g: Graph, t: GpuTensor, what: string): GpuTensor {
  return g.output(t, [], what).data;
}

export function doraLinear(g: Graph, x: Tensor, W: Tensor, A: Tensor, B: Tensor, m: Tensor, s: number, wsq: Tensor, options: DoraOptions = {}): Tensor {
  const { bias } = options;
  const [outFeatures, inFeatures] = W.shape as [number, number];
  const r = A.shape[0] ?? 0;
  const N = x.data.size / inFeatures;
  const shapes = `x [${x.shape.join(',')}], W [${W.shape.join(',')}], A [${A.shape.join(',')}], B [${B.shape.join(',')}], m [${m.shape.join(',')}]`;
  if (W.shape.length !== 2 || x.shape[x.shape.length - 1] !== inFeatures || !Number.isInteger(N))
    throw new InternalError(`doraLinear: input does not end in W's in-features (${shapes})`);
  if (A.shape.length !== 2 || A.shape[1] !== inFeatures || B.shape.length !== 2 || B.shape[0] !== outFeatures || B.shape[1] !== r) {
    throw new InternalError(`doraLinear: A must be [r, ${inFeatures}] and B [${outFeatures}, r] (${shapes})`);
  }
  if (m.shape.length !== 1 || m.shape[0] !== outFeatures || wsq.data.size !== outFeatures)
    throw new InternalError(`doraLinear: m and ‖W‖² must be [${outFeatures}] (${shapes})`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outFeatures)) throw new InternalError(`doraLinear: bias must be [${outFeatures}] (${shapes})`);
  if (options.normSq && options.normSq.data.size !== outFeatures) throw new InternalError(`doraLinear: held norms must be [${outFeatures}] (${shapes})`);
  if (W.requiresGrad) throw new InternalError(`doraLinear: the base weight W [${W.shape.join(',')}] is frozen and must not require a gradient`);
  const { ctx } = g;
  const x2 = x.data.view([N, inFeatures]);

  const h = matmulInto(ctx, x2, A.data, g.scratch([N, r], 'DoRA x·Aᵀ'), { transB: true });
  const z = matmulInto(ctx, x2, W.data, g.scratch([N, outFeatures], 'DoRA x·Wᵀ + s·x·Aᵀ·Bᵀ'), { transB: true });
  matmulInto(ctx, h, B.data, z, { transB: true, alpha: s, accumulate: true });
  let nsq: GpuTensor;
  if (options.normSq) {
    nsq = options.normSq.data;
  } else {
    nsq = adopt(g, doraNormSqKernel(ctx, W.data, A.data, B.data, s, wsq.data), 'DoRA ‖W + sBA‖²');
  }
  const c = adopt(g, doraOverNorm(ctx, m.data, nsq, true), 'DoRA m/‖W + sBA‖');
  const yData = ctx.empty([...x.shape.slice(0, -1), outFeatures], 'f32', 'doraLinear output');
  const y2 = yData.view([N, outFeatures]);
  mulRowVectorInto(ctx, y2, z, c);
  if (bias) addRowVectorInto(ctx, y2, y2, bias.data);

  const y = g.output(yData, bias ? [x, A, B, m, bias] : [x, A, B, m], 'doraLinear');
  g.record('doraLinear', y, (gy) => {
    const G = gy.view([N, outFeatures]);
    const Gc = mulRowVectorInto(ctx, ctx.empty([N, outFeatures], 'f32', 'DoRA G⊙c'), G, c);
    const needGB = x.requiresGrad || A.requiresGrad;
    const GcB = needGB ? matmulInto(ctx, Gc, B.data, ctx.empty([N, r], 'f32', 'DoRA G_c·B')) : undefined;
    if (x.requiresGrad && GcB) {
      const dx = ctx.empty(x.shape, 'f32', 'doraLinear dx');
      const dx2 = dx.view([N, inFeatures]);
      matmulInto(ctx, Gc, W.data, dx2);
      matmulInto(ctx, GcB, A.data, dx2, { alpha: s, accumulate: true });
      g.accumulate(x, dx);
    }
    if (A.requiresGrad && GcB) {
      if (A.grad) matmulInto(ctx, GcB, x2, A.grad, { transA: true, alpha: s, accumulate: true });
      else g.accumulate(A, matmulInto(ctx, GcB, x2, ctx.empty(A.shape, 'f32', 'doraLinear dA'), { transA: true, alpha: s }));
    }
    if (B.requiresGrad) {
      if (B.grad) matmulInto(ctx, Gc, h, B.grad, { transA: true, alpha: s, accumulate: true });
      else g.accumulate(B, matmulInto(ctx, Gc, h, ctx.empty(B.shape, 'f32', 'doraLinear dB'), { transA: true, alpha: s }));
    }
    if (m.requiresGrad) {
      const product = mulKernel(ctx, G, z);
      const sums = matmulInto(ctx, g.ones(N), product, ctx.empty([1, outFeatures], 'f32', 'DoRA Σ G⊙z'));
      g.accumulate(m, doraOverNorm(ctx, sums.view([outFeatures]), nsq, false));
      ctx.release(product, sums);
    }
    if (bias?.requiresGrad) {
      const db = ctx.empty([outFeatures], 'f32', 'doraLinear db');
      matmulInto(ctx, g.ones(N), G, db.view([1, outFeatures]));
      g.accumulate(bias, db);
    }
    ctx.release(Gc, GcB);
  });
  return y;
}
