// A frozen linear layer with a low-rank branch, as one op pair with fused kernels:
//   y [N, out] = base(x) + s · m(x Aᵀ) Bᵀ,   base(x) = x Wᵀ (+ b)  or  x · deq(Q)ᵀ (+ b)
// with x [N, in] (leading dims flattened into N), A [r, in], B [out, r'], W [out, in] f32 or packed
// 16-bit, Q its NF4 form (kernels/nf4.ts), b [out], and m an optional middle map h [N, r] → [N, r']
// made of other ops (SORSA's diag(S), LoRA-SB's R); none for LoRA, PiSSA, QLoRA, QPiSSA, LoftQ.
// Dispatches (kernels/matmulLora.ts, and kernels/nf4.ts's nf4Lora* for an NF4 base; G = ∂L/∂y [N, out]):
//   forward   h = x Aᵀ                                    (1)
//             y = base(x) + s · m(h) Bᵀ (+ b)               (1: the low-rank term in the product's epilogue)
//   backward  dh' = s · G B beside dB (+)= s · Gᵀ m(h)       (1: both read G)
//             dx (+)= G W + dh A beside dA (+)= dhᵀ x        (1; G · deq(Q) + dh A for NF4)
// That is 2 + 2 with no middle map, against 4–5 + 6–8 as linear/add/scale ops; a double-quantized
// NF4 base adds one forward dispatch that restores its absmax, kept for the backward's dx product.
// The product with W is fused only where that keeps the kernel matmulInto would run for it alone
// (fusesExactly: on software adapters, a rank not divisible by 4 keeps the vec4 kernel out), so the
// layer gives the base's outputs bit for bit while B = 0 (the NF4 kernels keep nf4Matmul's loops, so
// always). Otherwise, and in the backward also with a middle map, the base product (y = x Wᵀ;
// dx = G W or G · deq(Q)) is a dispatch of its own and the low-rank term is added into it by another
// (K = 0): up to 3 + 3, plus the map's own. dx is accumulated straight into an existing x.grad (q, k
// and v share their input). For the 2-dispatch backward, the up-projection's backward keeps G (taking
// it over from y, as add's backward does) until the down-projection's backward, which runs next on the
// tape, has read it. Gradients for W (never for a packed or NF4 base) and b are supported for
// completeness; the adapters freeze both.

import { matmulInto } from '../../kernels/matmul';
import { fusesExactly, matmulLoraInto, type LoraProduct } from '../../kernels/matmulLora';
import { nf4Absmax, nf4LoraInputGrad, nf4LoraMatmul, nf4MatmulInputGrad, type Nf4Weight } from '../../kernels/nf4';
import type { GpuTensor } from '../../gpu/tensor';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { InternalError } from '../../errors';

export type LoraBase =
  /** W [out, in], f32 or packed 16-bit (frozen), and an optional bias [out]. */
  | { readonly kind: 'dense'; readonly weight: Tensor; readonly bias?: Tensor }
  /** NF4 form of W [out, in] (frozen), and an optional bias [out]. */
  | { readonly kind: 'nf4'; readonly weight: Nf4Weight; readonly bias?: Tensor };

export interface LoraBranch {
  /** [r, in] */
  readonly A: Tensor;
  /** [out, r'] */
  readonly B: Tensor;
  readonly scaling: number;
  /** h [..., r] → [..., r'] from other ops (SORSA's diag(S), LoRA-SB's R). */
  readonly middle?: (g: Graph, h: Tensor) => Tensor;
}

function baseShape(base: LoraBase): readonly [number, number] {
  return base.kind === 'dense' ? (base.weight.shape as [number, number]) : base.weight.shape;
}

/** Where a gradient of `t` goes: added into t.grad when it exists, else a new tensor handed to accumulate(). */
function gradTarget(g: Graph, t: Tensor, what: string): { readonly out: GpuTensor; readonly accumulate: boolean; readonly commit: () => void } {
  if (t.grad) return { out: t.grad, accumulate: true, commit: () => {} };
  const out = g.ctx.empty(t.shape, 'f32', what);
  return { out, accumulate: false, commit: () => g.accumulate(t, out) };
}

export function loraLinear(g: Graph, x: Tensor, base: LoraBase, branch: LoraBranch): Tensor {
  const ctx = g.ctx;
  const [outFeatures, inFeatures] = baseShape(base);
  const { A, B, scaling: s } = branch;
  const N = x.data.size / inFeatures;
  const lead = x.shape.slice(0, -1);
  if (x.shape[x.shape.length - 1] !== inFeatures || !Number.isInteger(N)) {
    throw new InternalError(`loraLinear: input [${x.shape.join(',')}] does not end in ${inFeatures} (base [${outFeatures}, ${inFeatures}])`);
  }
  const [r, inA] = A.shape as [number, number];
  const [outB, rB] = B.shape as [number, number];
  if (A.shape.length !== 2 || B.shape.length !== 2 || inA !== inFeatures || outB !== outFeatures) {
    throw new InternalError(`loraLinear: A [${A.shape.join(',')}] and B [${B.shape.join(',')}] do not fit a [${outFeatures}, ${inFeatures}] base`);
  }
  const { bias } = base;
  if (bias && bias.data.size !== outFeatures) throw new InternalError(`loraLinear: bias [${bias.shape.join(',')}] must have ${outFeatures} elements`);
  const W = base.kind === 'dense' ? base.weight : undefined;
  if (W?.requiresGrad && W.data.half) throw new InternalError('loraLinear: a packed 16-bit base is frozen and cannot take a gradient');
  const x2 = x.data.view([N, inFeatures]);

  // h = x Aᵀ [N, r]
  const hData = ctx.empty([...lead, r], 'f32', 'loraLinear h');
  matmulInto(ctx, x2, A.data, hData.view([N, r]), { transB: true });
  const h = g.output(hData, [x, A], 'loraDown');

  // G, kept from the up-projection's backward for the down-projection's (no middle map).
  let pendingG: GpuTensor | undefined;
  // A double-quantized NF4 base's absmax, restored by the forward for the deferred dx product.
  let keptAbsmax: GpuTensor | undefined;

  g.record('loraDown', h, (gh) => {
    const dh = gh.view([N, r]);
    const dx = x.requiresGrad ? gradTarget(g, x, 'loraLinear dx') : undefined;
    const dA = A.requiresGrad ? gradTarget(g, A, 'loraLinear dA') : undefined;
    const G = pendingG;
    pendingG = undefined;
    if (G && dx && base.kind === 'nf4') {
      nf4LoraInputGrad(ctx, {
        G: G.view([N, outFeatures]),
        q: base.weight,
        absmax: keptAbsmax,
        dh,
        A: A.data,
        dx: dx.out.view([N, inFeatures]),
        accumulate: dx.accumulate,
        gradA: dA && { x: x2, out: dA.out, accumulate: dA.accumulate },
      });
      dx.commit();
      dA?.commit();
      ctx.release(G, keptAbsmax);
      keptAbsmax = undefined;
      return;
    }
    const spec: LoraProduct = {
      name: 'loraGradA',
      p: dh,
      grad: dA && { e: 'p', f: x2, out: dA.out, accumulate: dA.accumulate },
      ...(dx && {
        q: A.data,
        out: dx.out.view([N, inFeatures]),
        accumulate: dx.accumulate,
        ...(G && W ? { a: G.view([N, outFeatures]), b: W.data } : {}),
      }),
    };
    matmulLoraInto(ctx, spec);
    dx?.commit();
    dA?.commit();
    ctx.release(G);
  });

  const hm = branch.middle ? branch.middle(g, h) : h;
  if (hm.data.size !== N * rB) throw new InternalError(`loraLinear: the middle map gave [${hm.shape.join(',')}], B needs [..., ${rB}]`);
  const hm2 = hm.data.view([N, rB]);

  // y = base(x) + s · hm Bᵀ
  const yData = ctx.empty([...lead, outFeatures], 'f32', 'loraLinear output');
  const y2 = yData.view([N, outFeatures]);
  const lowRank = { p: hm2, q: B.data, transQ: true, scale: s } as const;
  if (base.kind === 'dense' && fusesExactly(ctx, { M: N, N: outFeatures, K: inFeatures, R: rB, SM: 0, SN: 0 }, true)) {
    matmulLoraInto(ctx, { name: 'loraLinear', a: x2, b: base.weight.data, transB: true, ...lowRank, bias: bias?.data, out: y2 });
  } else if (base.kind === 'dense') {
    matmulInto(ctx, x2, base.weight.data, y2, { transB: true, bias: bias?.data });
    matmulLoraInto(ctx, { name: 'loraLinear', ...lowRank, out: y2, accumulate: true });
  } else {
    const absmax = nf4Absmax(ctx, base.weight);
    nf4LoraMatmul(ctx, { x: x2, q: base.weight, absmax: absmax.values, p: hm2, B: B.data, scale: s, bias: bias?.data, out: y2 });
    if (absmax.owned) keptAbsmax = absmax.values;
  }
  const y = g.output(yData, [x, hm, B, ...(W ? [W] : []), ...(bias ? [bias] : [])], 'loraLinear');
  if (keptAbsmax) {
    // Kept only for a deferred dx product (see the backward); the graph frees it at dispose() should the step stop first.
    if (y.requiresGrad && x.requiresGrad && !branch.middle) g.input(keptAbsmax, 'loraLinear nf4 absmax');
    else {
      ctx.release(keptAbsmax);
      keptAbsmax = undefined;
    }
  }

  g.record('loraLinear', y, (gy) => {
    const G = gy.view([N, outFeatures]);
    const dhm = hm.requiresGrad ? gradTarget(g, hm, 'loraLinear dh') : undefined;
    const dB = B.requiresGrad ? gradTarget(g, B, 'loraLinear dB') : undefined;
    matmulLoraInto(ctx, {
      name: 'loraGradB',
      a: G,
      ...(dhm && { b: B.data, alpha: s, out: dhm.out.view([N, rB]), accumulate: dhm.accumulate }),
      grad: dB && { e: 'a', f: hm2, out: dB.out, alpha: s, accumulate: dB.accumulate },
    });
    dhm?.commit();
    dB?.commit();
    if (x.requiresGrad) {
      // The down-projection's backward adds dh A to dx; with no middle map it also computes G W (or
      // G · deq(Q)) in the same dispatch, reading G then.
      const defer =
        !branch.middle &&
        hm === h &&
        !gy.isView &&
        y.grad === gy &&
        (base.kind === 'nf4' ||
          fusesExactly(ctx, { M: N, N: inFeatures, K: outFeatures, R: r, SM: A.requiresGrad ? r : 0, SN: A.requiresGrad ? inFeatures : 0 }, false));
      if (defer) {
        y.grad = undefined; // ours now: the graph releases y.grad only while it is still gy
        pendingG = gy;
        g.input(gy, 'loraLinear G'); // released at dispose() should the step stop before loraDown's backward
      } else if (base.kind === 'dense') {
        const dx = gradTarget(g, x, 'loraLinear dx');
        matmulInto(ctx, G, base.weight.data, dx.out.view([N, inFeatures]), { accumulate: dx.accumulate });
        dx.commit();
      } else {
        const dx = gradTarget(g, x, 'loraLinear dx');
        nf4MatmulInputGrad(ctx, G, base.weight, dx.out.view([N, inFeatures]), dx.accumulate);
        dx.commit();
        ctx.release(keptAbsmax);
        keptAbsmax = undefined;
      }
    }
    if (W?.requiresGrad) {
      const dW = gradTarget(g, W, 'loraLinear dW');
      matmulInto(ctx, G, x2, dW.out, { transA: true, accumulate: dW.accumulate });
      dW.commit();
    }
    if (bias?.requiresGrad) {
      const db = gradTarget(g, bias, 'loraLinear db');
      matmulInto(ctx, g.ones(N), G, db.out.view([1, outFeatures]), { accumulate: db.accumulate });
      db.commit();
    }
  });
  return y;
}
