// Inits over a 4-bit base (ADAPTERS.md, QLoRA / QPiSSA / LoftQ), and the quantization error
// the studio charts. All products stay on the GPU; NF4 is kernels/nf4.ts (bitsandbytes-exact).
//   QLoRA   base Q = nf4(W); adapter A random, B = 0 (the caller makes them).
//   QPiSSA  res = W; T times { SVD_r(res) → B = U_r√σ', A = √σ' V_rᵀ (σ' = σ/s);
//                               Q = nf4(W − sBA); res = W − deq(Q) }; base Q, adapter (A, B).
//           T = 1 is PiSSA followed by quantizing the residual.
//   LoftQ   A, B = 0; T times { Q = nf4(W − sBA); SVD_r(W − deq(Q)) → A, B as above }; base is
//           the Q the last SVD factored (the published algorithm; it ends with an SVD).
// The inits read nothing back (the randomized SVD and the √σ' scaling stay on the GPU), so a layer
// costs only its kernels and the next layer is recorded while the GPU works.
//
// Error of an initialised layer after iteration t: E_t = W − (deq(Q_t) + s·B_t·A_t), reported as
// ‖E_t‖_F and ‖E_t‖_* (sum of singular values, the paper's metric). Measuring is NOT part of the
// init: the nuclear norm needs an SVD (or an estimate) per layer and iteration, far more work
// than the init itself (the exact Jacobi of one 576 × 576 matrix ran 66 s on SwiftShader). The
// init instead keeps what the measurement needs, a QuantErrorPlan per layer, and the hosts run a
// QuantErrorMeasurement once the method is ready (the CLI at once, the studio between training
// steps). What is kept: the factors (A_t, B_t) of every round, r·(m + n) floats each (the final
// pair copied, since training moves the live one); nothing of size m·n. Every Q_t is a pure
// function of W and those factors, E_t = W − deq(nf4(X_t)) − s·B_t·A_t with
//   QLoRA t = 0 and LoftQ t = 0:  X = W,              no B·A term;
//   QPiSSA t ≥ 1:                 X = W − s·B_t·A_t,  B_t·A_t;
//   LoftQ t ≥ 1:                  X = W − s·B_{t−1}·A_{t−1} (X = W for t = 1), B_t·A_t;
// and the measurement recomputes X with the same kernels as the init, so nf4(X) is bit for bit
// the Q the init made. Keeping E_t itself (m·n floats per round) or Q_t (m·n/2 bytes) would cost
// T copies of the model's quantized weights; the factors cost T copies of the adapter.
// Measurement (QuantErrorMeasurement.measure): the pending (layer, iteration) matrices of one
// shape are formed into one batch [L, m, n] (up to MEASURE_BATCH_BYTES), and norms.ts's
// nuclearNorms measures the batch in one set of dispatches: exact Jacobi singular values when
// min(m, n) ≤ EXACT_NUCLEAR_MAX_SIDE (…_SOFTWARE on SwiftShader), else the randomized estimate
// (nuclear.ts) with its error bound; each point says which (nuclearMethod). One readback per
// batch (plus the exact path's status reads).

import type { GpuTensor } from '../gpu/tensor';
import { copy, subInto } from '../kernels/elementwise';
import { matmulInto } from '../kernels/matmul';
import { dequantizeNf4, quantizeNf4, releaseNf4, type Nf4Weight } from '../kernels/nf4';
import { copyColumns } from '../kernels/slice';
import { Tensor } from '../tensor/tensor';
import { gpuContextOf } from '../tensor/gpuContextOf';
import type { Runtime } from '../tensor/values';
import { InternalError, withContext } from '../errors';
import { nuclearNorms, type NuclearMethod, type NuclearOptions } from './norms';
import { principalFactors, subtractProduct, type SvdSettings } from './principal';

export interface QuantError {
  /** 0 for the plain quantization (QLoRA, LoftQ's start), then one entry per iteration. */
  readonly iteration: number;
  readonly frobenius: number;
  readonly nuclear: number;
  /** How ‖E‖_* was computed: exact singular values, or the randomized estimate (large layers). */
  readonly nuclearMethod: NuclearMethod;
  /** 'randomized' only: the bound on |nuclear − ‖E‖_*| the estimate states (nuclear.ts). */
  readonly nuclearError?: number;
}

/** A low-rank pair (A [r, in], B [out, r]) kept by a plan. */
export interface FactorPair {
  readonly A: GpuTensor;
  readonly B: GpuTensor;
}

/** The layer's original W [out, in] in f32 for the duration of one use (a packed base gives a temporary). */
export type WeightSource = () => { readonly W: GpuTensor; readonly done: () => void };

/** What measuring one layer's errors takes, kept by its init (see the header). */
export interface QuantErrorPlan {
  readonly weight: WeightSource;
  readonly shape: readonly [number, number];
  readonly scaling: number;
  readonly doubleQuant: boolean;
  /** (A_t, B_t) for t = 1..T, owned by the plan. */
  readonly factors: readonly FactorPair[];
  /** One entry per reported iteration: E = W − deq(nf4(W − s·B_q A_q)) − s·B_e A_e (indexes into factors). */
  readonly errors: readonly { readonly iteration: number; readonly quantized?: number; readonly subtracted?: number }[];
}

export interface QuantInit {
  readonly base: Nf4Weight;
  readonly A?: Tensor;
  readonly B?: Tensor;
  /** What measuring the errors takes; absent when the settings asked for none. */
  readonly plan?: QuantErrorPlan;
}

export interface QuantSettings {
  readonly doubleQuant: boolean;
  readonly iterations: number;
  /** How a later measurement gets W (the init's W may be a temporary); without it no plan is kept. */
  readonly weight?: WeightSource;
  /** false: keep no plan even with `weight` (nothing will measure this layer). */
  readonly measure?: boolean;
}

function planned(s: QuantSettings): s is QuantSettings & { readonly weight: WeightSource } {
  return s.weight !== undefined && s.measure !== false;
}

export function releasePlan(rt: Runtime, plan: QuantErrorPlan): void {
  for (const f of plan.factors) rt.release(f.A, f.B);
}

function shapeOf(W: Tensor): [number, number] {
  return W.shape as [number, number];
}

/** NF4(W); recorded only (nothing is awaited: async for its callers' sake). */
export async function qloraBase(rt: Runtime, W: Tensor, s: QuantSettings): Promise<QuantInit> {
  const ctx = gpuContextOf(rt);
  const base = quantizeNf4(ctx, W.data, { doubleQuant: s.doubleQuant });
  if (!planned(s)) return { base };
  return { base, plan: { weight: s.weight, shape: shapeOf(W), scaling: 1, doubleQuant: s.doubleQuant, factors: [], errors: [{ iteration: 0 }] } };
}

/** B, A of the rank-r SVD of `res` (σ' = σ/s split as √σ' into both factors), without a readback. */
function factor(rt: Runtime, res: GpuTensor, scaling: number, svd: SvdSettings, t: number): Promise<FactorPair> {
  return principalFactors(rt, res, scaling, { ...svd, seed: svd.seed + t });
}

/** A copy of (A, B) that training cannot move. */
function keep(rt: Runtime, A: GpuTensor, B: GpuTensor): FactorPair {
  const ctx = gpuContextOf(rt);
  return { A: copy(ctx, A, rt.empty(A.shape, 'f32', 'kept A_t')), B: copy(ctx, B, rt.empty(B.shape, 'f32', 'kept B_t')) };
}

/**
 * The init's result; the plan gets the rounds' factors (the last pair as a copy) and the error
 * recipes, or, without a plan, the rounds' factors are released.
 */
function asInit(
  rt: Runtime,
  W: Tensor,
  base: Nf4Weight,
  rounds: FactorPair[],
  errors: QuantErrorPlan['errors'],
  scaling: number,
  s: QuantSettings,
  name: string,
): QuantInit {
  const last = rounds.pop()!;
  const A = Tensor.leaf(last.A, true, `${name}.lora_A`);
  const B = Tensor.leaf(last.B, true, `${name}.lora_B`);
  if (!planned(s)) {
    for (const f of rounds) rt.release(f.A, f.B);
    return { base, A, B };
  }
  const factors = [...rounds, keep(rt, last.A, last.B)];
  return { base, A, B, plan: { weight: s.weight, shape: shapeOf(W), scaling, doubleQuant: s.doubleQuant, factors, errors } };
}

/** QPiSSA: SVD first, then quantize what the adapter leaves; it ends with a quantization. */
export async function qpissaInit(rt: Runtime, W: Tensor, scaling: number, svd: SvdSettings, s: QuantSettings, name: string): Promise<QuantInit> {
  const ctx = gpuContextOf(rt);
  let Q: Nf4Weight | undefined;
  let pair: FactorPair | undefined;
  const rounds: FactorPair[] = [];
  const errors: QuantErrorPlan['errors'][number][] = [];
  const T = Math.max(1, s.iterations);
  for (let t = 1; t <= T; t++) {
    // res = W (t = 1) or W − deq(Q)
    const res = copy(ctx, W.data, rt.empty(W.shape, 'f32', 'residual to factor'));
    if (Q) {
      const deq = dequantizeNf4(ctx, Q);
      subInto(ctx, res, res, deq);
      rt.release(deq);
    }
    pair = await factor(rt, res, scaling, svd, t);
    rt.release(res);
    const toQuantize = subtractProduct(rt, W.data, pair.B, pair.A, scaling, 'W − sBA');
    if (Q) releaseNf4(ctx, Q);
    Q = quantizeNf4(ctx, toQuantize, { doubleQuant: s.doubleQuant });
    rt.release(toQuantize);
    rounds.push(pair);
    errors.push({ iteration: t, quantized: t - 1, subtracted: t - 1 });
  }
  return asInit(rt, W, Q!, rounds, errors, scaling, s, name);
}

/**
 * LoftQ (Li et al. 2023, Algorithm 1; PEFT's loftq_init): A, B = 0; T times { Q = nf4(W − sBA);
 * (A, B) = rank-r SVD of W − deq(Q) }. The base is the Q the last SVD was computed from: it ends
 * with an SVD. Iteration 0 is nf4(W) with no adapter (QLoRA's error).
 */
export async function loftqInit(rt: Runtime, W: Tensor, scaling: number, svd: SvdSettings, s: QuantSettings, name: string): Promise<QuantInit> {
  const ctx = gpuContextOf(rt);
  let Q = quantizeNf4(ctx, W.data, { doubleQuant: s.doubleQuant });
  let pair: FactorPair | undefined;
  const rounds: FactorPair[] = [];
  const errors: QuantErrorPlan['errors'][number][] = [{ iteration: 0 }];
  const T = Math.max(1, s.iterations);
  for (let t = 1; t <= T; t++) {
    if (pair) {
      const toQuantize = subtractProduct(rt, W.data, pair.B, pair.A, scaling, 'W − sBA');
      releaseNf4(ctx, Q);
      Q = quantizeNf4(ctx, toQuantize, { doubleQuant: s.doubleQuant });
      rt.release(toQuantize);
    }
    const deq = dequantizeNf4(ctx, Q);
    const res = subInto(ctx, deq, W.data, deq); // W − deq(Q), in place over deq
    pair = await factor(rt, res, scaling, svd, t);
    rt.release(res);
    rounds.push(pair);
    errors.push({ iteration: t, quantized: t >= 2 ? t - 2 : undefined, subtracted: t - 1 });
  }
  return asInit(rt, W, Q, rounds, errors, scaling, s, name);
}

// ---- measurement -----------------------------------------------------------------------------------

/** A batch of error matrices of one shape stays under this (the batch tensor; the estimate adds ~(k + N)/s of it). */
export const MEASURE_BATCH_BYTES = 64 * 2 ** 20;

/** E = W − deq(nf4(X)) − s·B_e A_e with X = W − s·B_q A_q, into a new [m, n] tensor (the init's kernels, so nf4(X) is the init's Q). */
export function errorMatrix(rt: Runtime, plan: QuantErrorPlan, iteration: number): GpuTensor {
  const ctx = gpuContextOf(rt);
  const entry = plan.errors.find((e) => e.iteration === iteration);
  if (!entry) throw new InternalError(`no iteration ${iteration} in this layer's plan`);
  const pair = (i: number | undefined) => (i === undefined ? undefined : plan.factors[i]);
  const { W, done } = plan.weight();
  try {
    const q = pair(entry.quantized);
    const X = q ? subtractProduct(rt, W, q.B, q.A, plan.scaling, 'W − sBA') : W;
    const Q = quantizeNf4(ctx, X, { doubleQuant: plan.doubleQuant });
    if (X !== W) rt.release(X);
    const deq = dequantizeNf4(ctx, Q);
    releaseNf4(ctx, Q);
    const E = subInto(ctx, deq, W, deq); // W − deq(Q), in place over deq
    const e = pair(entry.subtracted);
    if (e) matmulInto(ctx, e.B, e.A, E, { alpha: -plan.scaling, accumulate: true });
    return E;
  } finally {
    done();
  }
}

export interface LayerQuantErrors {
  readonly layer: string;
  readonly errors: readonly QuantError[];
}

export interface MeasureOptions {
  /** Layers to measure in this call at most (default: all pending). */
  readonly maxLayers?: number;
  /** Only these layers (those still pending), e.g. the one whose shared W is about to be released. */
  readonly layers?: readonly string[];
  /** Each layer's errors, in iteration order, as soon as its batch is measured. */
  readonly onLayer?: (layer: LayerQuantErrors, measured: number, total: number) => void;
}

/**
 * The quantization errors of a method's layers, measured off the init path and resumable: each
 * measure() call takes the next pending layers (in target order), measures all their iterations
 * in shape batches, and returns every layer measured so far. A layer's plan is released as soon
 * as it is measured; release() frees what is still pending.
 */
export class QuantErrorMeasurement {
  private readonly queue: { readonly layer: string; readonly index: number; readonly plan: QuantErrorPlan }[] = [];
  private readonly results: LayerQuantErrors[] = [];
  private readonly positions = new Map<string, number>();
  private added = 0;

  /** `total`: the layers there will be, when plans are added one by one as an init makes them. */
  constructor(
    layers: readonly { readonly layer: string; readonly plan: QuantErrorPlan }[],
    private readonly options: { readonly nuclear?: NuclearOptions; readonly batchBytes?: number; readonly total?: number } = {},
  ) {
    for (const l of layers) this.add(l.layer, l.plan);
  }

  /** Layers measured and pending, or the total announced. */
  get total(): number {
    return Math.max(this.added, this.options.total ?? 0);
  }

  /** Queues one more layer's plan (in target order). */
  add(layer: string, plan: QuantErrorPlan): void {
    this.positions.set(layer, this.added);
    this.queue.push({ layer, index: this.added++, plan });
  }

  /** Layers not measured yet. */
  get pending(): number {
    return this.queue.length;
  }

  /** Every layer measured so far, in target order. */
  get measured(): readonly LayerQuantErrors[] {
    return this.results;
  }

  async measure(rt: Runtime, options: MeasureOptions = {}): Promise<readonly LayerQuantErrors[]> {
    const only = options.layers && new Set(options.layers);
    const candidates = only ? this.queue.filter((l) => only.has(l.layer)) : this.queue;
    const take = candidates.slice(0, Math.max(0, options.maxLayers ?? candidates.length));
    // (layer, iteration) items grouped by shape, in target order within a shape.
    const groups = new Map<string, { readonly at: number; readonly iteration: number }[]>();
    take.forEach((l, at) => {
      const key = l.plan.shape.join('x');
      for (const e of l.plan.errors) groups.set(key, [...(groups.get(key) ?? []), { at, iteration: e.iteration }]);
    });
    const found = take.map(() => new Map<number, QuantError>());
    try {
      for (const items of groups.values()) {
        const [m, n] = take[items[0]!.at]!.plan.shape;
        const per = Math.max(1, Math.floor((this.options.batchBytes ?? MEASURE_BATCH_BYTES) / (4 * m * n)));
        for (let start = 0; start < items.length; start += per) {
          const chunk = items.slice(start, start + per);
          const points = await this.measureBatch(rt, take, chunk, m, n);
          chunk.forEach((item, i) => found[item.at]!.set(item.iteration, points[i]!));
        }
      }
    } catch (error) {
      throw withContext(`quantization error of ${take.map((l) => l.layer).join(', ')}`, error);
    }
    take.forEach((l, at) => {
      const errors = l.plan.errors.map((e) => found[at]!.get(e.iteration)!);
      const result = { layer: l.layer, errors };
      this.results.push(result);
      releasePlan(rt, l.plan);
      options.onLayer?.(result, this.results.length, this.total);
    });
    const taken = new Set(take);
    const left = this.queue.filter((l) => !taken.has(l));
    this.queue.splice(0, this.queue.length, ...left);
    this.results.sort((a, b) => this.positions.get(a.layer)! - this.positions.get(b.layer)!);
    return this.results;
  }

  private async measureBatch(
    rt: Runtime,
    take: QuantErrorMeasurement['queue'],
    chunk: readonly { at: number; iteration: number }[],
    m: number,
    n: number,
  ): Promise<QuantError[]> {
    const ctx = gpuContextOf(rt);
    const L = chunk.length;
    // One Philox stream per (layer, iteration): the estimate of a matrix does not depend on its batch.
    const streams = chunk.map((item) => take[item.at]!.index * 32 + item.iteration);
    let batch: GpuTensor;
    if (L === 1) {
      batch = errorMatrix(rt, take[chunk[0]!.at]!.plan, chunk[0]!.iteration);
    } else {
      batch = rt.empty([L, m, n], 'f32', 'quantization errors');
      try {
        chunk.forEach((item, b) => {
          const E = errorMatrix(rt, take[item.at]!.plan, item.iteration);
          copyColumns(ctx, E.view([1, m * n]), batch.view([1, L * m * n]), { srcOffset: 0, dstOffset: b * m * n, width: m * n });
          rt.release(E);
        });
      } catch (error) {
        // A layer whose W was released (baseRelease.ts) cannot be measured: the batch goes too.
        rt.release(batch);
        throw error;
      }
    }
    try {
      const norms = await nuclearNorms(ctx, batch, { ...this.options.nuclear, estimate: { ...this.options.nuclear?.estimate, streams } });
      return chunk.map((item, b) => {
        const v = norms[b]!;
        return {
          iteration: item.iteration,
          frobenius: v.frobenius,
          nuclear: v.value,
          nuclearMethod: v.method,
          ...(v.method === 'randomized' ? { nuclearError: v.error } : {}),
        };
      });
    } finally {
      rt.release(batch);
    }
  }

  /** Frees the plans of the layers not measured. */
  release(rt: Runtime): void {
    for (const l of this.queue) releasePlan(rt, l.plan);
    this.queue.length = 0;
  }
}
