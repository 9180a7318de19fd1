// Matrix norms of E [m, n] (or of each matrix of a batch E [L, m, n]) for reporting (the
// quantization error of an initialised layer, ADAPTERS.md QPiSSA): each reads a few numbers back,
// so they are for report code (quantInit.ts's measurement), never for a training step or an init.
//   frobeniusNorm(ctx, E)  = √(Σ E_ij²)           one reduction (sumSquares), O(mn)
//   frobeniusNorms(ctx, E) = ‖E_b‖_F per matrix    two row reductions, one read
//   nuclearNorms(ctx, E, {exactMaxSide})           ‖E_b‖_* = Σσ_i(E_b) per matrix, and how:
//     'exact'       s = min(m, n) ≤ exactMaxSide (default 256; 128 on a software adapter):
//                   singular values by one-sided Jacobi on the smaller side, the whole batch in
//                   one set of dispatches; |Σσ − Σσ_exact| ≲ 1e-6·s·σ₁ in f32. When the matrix
//                   is at least twice as long as it is wide (l = max(m, n) ≥ 2s), Jacobi runs on
//                   the Gram matrix G = EᵀE (or EEᵀ) [s, s] instead (one batched matmul first):
//                   σ_i = √λ_i(G), l/s times fewer Jacobi flops. G's eigenvalues carry an absolute
//                   error ~ε·σ₁², so σ_i gets ~ε·σ₁²/(2σ_i): for a quantization error (a
//                   noise-like spectrum with σ_min/σ₁ ≳ 0.1 at these aspect ratios) ~1e-6
//                   relative, at worst ~√ε·s·σ₁ ≈ 2.4e-4·s·σ₁ on the sum for a spectrum reaching 0.
//     'randomized'  above it (any size: the exact SVD's 1024 limit does not apply): stochastic
//                   Lanczos quadrature (nuclear.ts), with its error bound.
//   nuclearNorm(ctx, E) = nuclearNorms(ctx, E)[0].value (never refuses a size).
// Exact cost: ≈ 3·s²·l flops per sweep (l = max(m, n)), 8–12 sweeps, plus one u32 read per sweep
// on GPUs ('rounds'). E 1024×1024 ≈ 3e10–4e10 flops: about a second on a discrete GPU; on
// SwiftShader one workgroup runs at ≈ 85 MFLOP/s, so 128×352 takes ~2 s and 256×256 ~6 s (a
// batch of L matrices runs L workgroups side by side, as many at once as there are cores).
// The estimate costs ≈ 2.3·10³·m·n flops (nuclear.ts), all of it matmul: at s = 256 both are
// ~10⁸–10⁹ flops, which is why the default threshold sits there; below it the exact value is
// cheap and preferred. SwiftShader runs the one-workgroup Jacobi ~10–30× slower per flop than
// its matmul (measured at [192, 576]: 8.1 s exact, 0.5–0.7 s estimated; [576, 576]: 58 s against
// 1–2 s; [1536, 576]: 153 s against 3–7 s), so software adapters switch at 128 instead.

import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { matmulInto } from '../kernels/matmul';
import { sumSquares } from '../kernels/reduce';
import { estimateNuclearNorms, frobeniusSquares, type NuclearEstimateOptions } from './nuclear';
import { singularValues, type JacobiMethod } from './svd';

/** Largest smaller side measured exactly by default; larger matrices get the randomized estimate. */
export const EXACT_NUCLEAR_MAX_SIDE = 256;
/** The same on a software adapter (SwiftShader), where the exact Jacobi is slow per flop. */
export const EXACT_NUCLEAR_MAX_SIDE_SOFTWARE = 128;

export type NuclearMethod = 'exact' | 'randomized';

export interface NuclearNorm {
  readonly value: number;
  readonly method: NuclearMethod;
  /** Bound on |value − ‖E‖_*| for 'randomized' (nuclear.ts); 0 for 'exact'. */
  readonly error: number;
  /** ‖E‖_F, measured on the way (one reduction per matrix). */
  readonly frobenius: number;
}

export interface NuclearOptions {
  /** Jacobi schedule of the exact path. */
  readonly method?: JacobiMethod;
  /** Exact up to this smaller side (default EXACT_NUCLEAR_MAX_SIDE, or …_SOFTWARE; 0: always estimate; at most 1024). */
  readonly exactMaxSide?: number;
  /** Settings of the randomized estimate (seed, a stream per matrix, probes, steps). */
  readonly estimate?: NuclearEstimateOptions;
}

function check(E: GpuTensor, kernel: string, batch = false): void {
  if (E.dtype !== 'f32') throw new GpuError(`E must be f32, is ${E.dtype}`, kernel, E.describe());
  if (E.shape.length !== 2 && !(batch && E.shape.length === 3))
    throw new GpuError(`E must be a matrix [m, n]${batch ? ' or a batch [L, m, n]' : ''}`, kernel, E.describe());
}

/** ‖E‖_F (any shape, as a flat array). */
export async function frobeniusNorm(ctx: GpuContext, E: GpuTensor): Promise<number> {
  if (E.dtype !== 'f32') throw new GpuError(`E must be f32, is ${E.dtype}`, 'frobeniusNorm', E.describe());
  const ss = sumSquares(ctx, E);
  const value = (await ctx.read(ss))[0]!;
  ctx.release(ss);
  return Math.sqrt(value);
}

/** ‖E_b‖_F of each matrix of E [L, m, n] (or [m, n]: one value); one read. */
export async function frobeniusNorms(ctx: GpuContext, E: GpuTensor): Promise<number[]> {
  check(E, 'frobeniusNorms', true);
  if (E.size === 0) return Array.from({ length: E.shape.length === 3 ? E.shape[0]! : 1 }, () => 0);
  const ss = frobeniusSquares(ctx, E);
  const values = await ctx.read(ss);
  ctx.release(ss);
  return Array.from(values, (v) => Math.sqrt(Math.max(v, 0)));
}

/** ‖E_b‖_* of each matrix of E [L, m, n] (or [m, n]), exact or estimated by size; sums in float64. */
export async function nuclearNorms(ctx: GpuContext, E: GpuTensor, options: NuclearOptions = {}): Promise<NuclearNorm[]> {
  check(E, 'nuclearNorms', true);
  const [m, n] = E.shape.slice(-2) as [number, number];
  const L = E.shape.length === 3 ? E.shape[0]! : 1;
  if (E.size === 0) return Array.from({ length: L }, () => ({ value: 0, method: 'exact', error: 0, frobenius: 0 }));
  const s = Math.min(m, n);
  const exactMaxSide = Math.min(options.exactMaxSide ?? (ctx.info.isSoftware ? EXACT_NUCLEAR_MAX_SIDE_SOFTWARE : EXACT_NUCLEAR_MAX_SIDE), 1024);
  if (s > exactMaxSide) {
    return (await estimateNuclearNorms(ctx, E, options.estimate)).map((e) => ({
      value: e.value,
      method: 'randomized',
      error: e.error,
      frobenius: e.frobenius,
    }));
  }
  const ss = frobeniusSquares(ctx, E);
  const gram = Math.max(m, n) >= 2 * s;
  let G: GpuTensor | undefined;
  if (gram) {
    const E3 = E.shape.length === 3 ? E : E.view([1, m, n]);
    G = matmulInto(ctx, E3, E3, ctx.empty([L, s, s], 'f32', 'nuclear norm Gram'), n <= m ? { transA: true } : { transB: true });
  }
  const S = await singularValues(ctx, G ?? E, { method: options.method });
  ctx.release(G);
  const [sigma, squares] = await Promise.all([ctx.read(S), ctx.read(ss)]);
  ctx.release(S, ss);
  return Array.from({ length: L }, (_, b) => {
    let total = 0;
    for (let i = b * s; i < (b + 1) * s; i++) total += gram ? Math.sqrt(Math.max(sigma[i]!, 0)) : sigma[i]!;
    return { value: total, method: 'exact', error: 0, frobenius: Math.sqrt(Math.max(squares[b]!, 0)) };
  });
}

/** ‖E‖_* = Σ σ_i(E) for E [m, n] (exact up to options.exactMaxSide, estimated above; any size). */
export async function nuclearNorm(ctx: GpuContext, E: GpuTensor, options: NuclearOptions = {}): Promise<number> {
  check(E, 'nuclearNorm');
  return (await nuclearNorms(ctx, E, options))[0]!.value;
}
