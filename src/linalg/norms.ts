// Matrix norms of E [m, n] for reporting (the quantization error of an initialised layer,
// ADAPTERS.md QPiSSA): each reads one small result back, so they are for init and report code,
// not for a training step.
//   frobeniusNorm(ctx, E) = √(Σ E_ij²)            one reduction (sumSquares), O(mn)
//   nuclearNorm(ctx, E)   = Σ σ_i(E)              singular values by one-sided Jacobi on the
//                                                 smaller side s = min(m, n), without vectors
// Nuclear norm cost: ≈ 3·s²·l flops per sweep (l = max(m, n)), 8–12 sweeps, plus one u32 read per
// sweep on GPUs ('rounds'). E 1024×1024 ≈ 3e10–4e10 flops: about a second on a discrete GPU
// (one workgroup per pair, 1023 dispatches per sweep); on SwiftShader the single-workgroup
// kernel runs at ≈ 85 MFLOP/s, so 256×256 takes ~5–10 s and 1024×1024 several minutes (it works,
// but a per-layer report on CPU-only WebGPU should sample layers or use smaller matrices).
// Accuracy: |Σσ − Σσ_exact| ≲ 1e-6·s·σ₁ in f32.

import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { sumSquares } from '../kernels/reduce';
import { singularValues, type JacobiMethod } from './svd';

function check(E: GpuTensor, kernel: string): void {
  if (E.dtype !== 'f32') throw new GpuError(`E must be f32, is ${E.dtype}`, kernel, E.describe());
}

/** ‖E‖_F (any shape, as a flat array). */
export async function frobeniusNorm(ctx: GpuContext, E: GpuTensor): Promise<number> {
  check(E, 'frobeniusNorm');
  const ss = sumSquares(ctx, E);
  const value = (await ctx.read(ss))[0]!;
  ctx.release(ss);
  return Math.sqrt(value);
}

/** ‖E‖_* = Σ σ_i(E) for E [m, n] (min(m, n) ≤ 1024); the sum is taken in float64. */
export async function nuclearNorm(ctx: GpuContext, E: GpuTensor, options: { method?: JacobiMethod } = {}): Promise<number> {
  check(E, 'nuclearNorm');
  if (E.shape.length !== 2) throw new GpuError('E must be a matrix [m, n]', 'nuclearNorm', E.describe());
  if (E.size === 0) return 0;
  const S = await singularValues(ctx, E, options);
  const sigma = await ctx.read(S);
  ctx.release(S);
  let total = 0;
  for (const s of sigma) total += s;
  return total;
}
