// Inits over a 4-bit base (ADAPTERS.md, QLoRA / QPiSSA / LoftQ), and the quantization error
// the studio charts. All products stay on the GPU; NF4 is kernels/nf4.ts (bitsandbytes-exact).
//   QLoRA   base Q = nf4(W); adapter A random, B = 0 (the caller makes them).
//   QPiSSA  res = W; T times { SVD_r(res) → B = U_r√σ', A = √σ' V_rᵀ (σ' = σ/s);
//                               Q = nf4(W − sBA); res = W − deq(Q) }; base Q, adapter (A, B).
//           T = 1 is PiSSA followed by quantizing the residual.
//   LoftQ   A, B = 0; T times { Q = nf4(W − sBA); SVD_r(W − deq(Q)) → A, B as above }; base is
//           the Q the last SVD factored (the published algorithm; it ends with an SVD).
// Error of an initialised layer: E = W − (deq(Q) + s·B·A), reported as ‖E‖_F and ‖E‖_* (sum of
// singular values, the paper's metric) after every iteration.

import type { GpuTensor } from '../gpu/tensor';
import { copy, subInto } from '../kernels/elementwise';
import { matmulInto } from '../kernels/matmul';
import { dequantizeNf4, quantizeNf4, releaseNf4, type Nf4Weight } from '../kernels/nf4';
import { Tensor } from '../tensor/tensor';
import type { Runtime } from '../tensor/values';
import { frobeniusNorm, nuclearNorm } from './norms';
import { principal, subtractProduct, type SvdSettings } from './principal';

export interface QuantError {
  /** 0 for the plain quantization (QLoRA), then one entry per iteration. */
  readonly iteration: number;
  readonly frobenius: number;
  readonly nuclear: number;
}

export interface QuantInit {
  readonly base: Nf4Weight;
  readonly A?: Tensor;
  readonly B?: Tensor;
  readonly errors: QuantError[];
}

export interface QuantSettings {
  readonly doubleQuant: boolean;
  readonly iterations: number;
  /** Compute the nuclear norm too (an SVD of the error per iteration; the chart needs it). */
  readonly measure: boolean;
  /** Called with each error as soon as it is measured (the studio's live chart). */
  readonly onError?: (error: QuantError) => void;
}

/** ‖W − (deq(Q) + s·B·A)‖ in both norms. */
export async function quantizationError(rt: Runtime, W: GpuTensor, Q: Nf4Weight, scaling: number, B?: GpuTensor, A?: GpuTensor): Promise<Omit<QuantError, 'iteration'>> {
  const deq = dequantizeNf4(rt, Q);
  const E = subInto(rt, deq, W, deq); // W − deq(Q), in place over deq
  if (A && B) matmulInto(rt, B, A, E, { alpha: -scaling, accumulate: true });
  const frobenius = await frobeniusNorm(rt, E);
  const nuclear = await nuclearNorm(rt, E);
  rt.release(E);
  return { frobenius, nuclear };
}

function record(errors: QuantError[], error: QuantError, s: QuantSettings): void {
  errors.push(error);
  s.onError?.(error);
}

function sqrtFactors(rt: Runtime, U: GpuTensor, sigma: Float32Array, Vt: GpuTensor, scaling: number): { A: GpuTensor; B: GpuTensor } {
  const r = sigma.length;
  const d = new Float32Array(r * r);
  for (let i = 0; i < r; i++) d[i * r + i] = Math.sqrt(Math.max(sigma[i]!, 0) / scaling);
  const D = rt.uploadF32(d, [r, r], 'diag √σ');
  const A = matmulInto(rt, D, Vt, rt.empty(Vt.shape, 'f32', 'A'));
  const B = matmulInto(rt, U, D, rt.empty(U.shape, 'f32', 'B'));
  rt.release(D);
  return { A, B };
}

export async function qloraBase(rt: Runtime, W: Tensor, s: QuantSettings): Promise<QuantInit> {
  const base = quantizeNf4(rt, W.data, { doubleQuant: s.doubleQuant });
  const errors: QuantError[] = [];
  if (s.measure) record(errors, { iteration: 0, ...(await quantizationError(rt, W.data, base, 1)) }, s);
  return { base, errors };
}

/** B, A of the rank-r SVD of `res` (σ' = σ/s split as √σ' into both factors). */
async function factor(rt: Runtime, res: GpuTensor, scaling: number, svd: SvdSettings, t: number): Promise<{ A: GpuTensor; B: GpuTensor }> {
  const p = await principal(rt, res, { ...svd, seed: svd.seed + t });
  const factors = sqrtFactors(rt, p.U, p.sigma, p.Vt, scaling);
  rt.release(p.U, p.Vt);
  return factors;
}

function asInit(base: Nf4Weight, A: GpuTensor, B: GpuTensor, errors: QuantError[], name: string): QuantInit {
  return { base, A: Tensor.leaf(A, true, `${name}.lora_A`), B: Tensor.leaf(B, true, `${name}.lora_B`), errors };
}

/** QPiSSA: SVD first, then quantize what the adapter leaves; it ends with a quantization. */
export async function qpissaInit(rt: Runtime, W: Tensor, scaling: number, svd: SvdSettings, s: QuantSettings, name: string): Promise<QuantInit> {
  let Q: Nf4Weight | undefined;
  let A: GpuTensor | undefined;
  let B: GpuTensor | undefined;
  const errors: QuantError[] = [];
  for (let t = 1; t <= Math.max(1, s.iterations); t++) {
    // res = W (t = 1) or W − deq(Q)
    const res = copy(rt, W.data, rt.empty(W.shape, 'f32', 'residual to factor'));
    if (Q) {
      const deq = dequantizeNf4(rt, Q);
      subInto(rt, res, res, deq);
      rt.release(deq);
    }
    rt.release(A, B);
    ({ A, B } = await factor(rt, res, scaling, svd, t));
    rt.release(res);
    const toQuantize = subtractProduct(rt, W.data, B, A, scaling, 'W − sBA');
    if (Q) releaseNf4(rt, Q);
    Q = quantizeNf4(rt, toQuantize, { doubleQuant: s.doubleQuant });
    rt.release(toQuantize);
    if (s.measure) record(errors, { iteration: t, ...(await quantizationError(rt, W.data, Q, scaling, B, A)) }, s);
  }
  return asInit(Q!, A!, B!, errors, name);
}

/**
 * LoftQ (Li et al. 2023, Algorithm 1; PEFT's loftq_init): A, B = 0; T times { Q = nf4(W − sBA);
 * (A, B) = rank-r SVD of W − deq(Q) }. The base is the Q the last SVD was computed from: it ends
 * with an SVD. Iteration 0 is nf4(W) with no adapter (QLoRA's error).
 */
export async function loftqInit(rt: Runtime, W: Tensor, scaling: number, svd: SvdSettings, s: QuantSettings, name: string): Promise<QuantInit> {
  let Q = quantizeNf4(rt, W.data, { doubleQuant: s.doubleQuant });
  let A: GpuTensor | undefined;
  let B: GpuTensor | undefined;
  const errors: QuantError[] = [];
  if (s.measure) record(errors, { iteration: 0, ...(await quantizationError(rt, W.data, Q, scaling)) }, s);
  for (let t = 1; t <= Math.max(1, s.iterations); t++) {
    if (A && B) {
      const toQuantize = subtractProduct(rt, W.data, B, A, scaling, 'W − sBA');
      releaseNf4(rt, Q);
      Q = quantizeNf4(rt, toQuantize, { doubleQuant: s.doubleQuant });
      rt.release(toQuantize);
    }
    const deq = dequantizeNf4(rt, Q);
    const res = subInto(rt, deq, W.data, deq); // W − deq(Q), in place over deq
    rt.release(A, B);
    ({ A, B } = await factor(rt, res, scaling, svd, t));
    rt.release(res);
    if (s.measure) record(errors, { iteration: t, ...(await quantizationError(rt, W.data, Q, scaling, B, A)) }, s);
  }
  return asInit(Q, A!, B!, errors, name);
}
