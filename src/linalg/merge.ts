// Merging a low-rank update into a dense weight on the GPU, for exports and merged-vs-unmerged
// checks:  W' = W + s · B M A  with M = diag(S) (SORSA), R (LoRA-SB) or I.
//   W [out, in], B [out, r], A [r, in], S [r], R [r, r]

import type { GpuTensor } from '../gpu/tensor';
import { copy, mulRowVectorInto } from '../kernels/elementwise';
import { matmulInto } from '../kernels/matmul';
import { Tensor } from '../tensor/tensor';
import { gpuContextOf } from '../tensor/gpuContextOf';
import type { Runtime } from '../tensor/values';

export interface LowRankUpdate {
  readonly A: Tensor;
  readonly B: Tensor;
  readonly S?: Tensor;
  readonly R?: Tensor;
  readonly scaling: number;
}

function effectiveB(rt: Runtime, u: LowRankUpdate): GpuTensor {
  const ctx = gpuContextOf(rt);
  let B = u.B.data;
  let owned: GpuTensor | undefined;
  if (u.R) {
    owned = matmulInto(ctx, B, u.R.data, rt.empty(B.shape, 'f32', 'B·R'));
    B = owned;
  }
  if (u.S) {
    const scaled = mulRowVectorInto(ctx, rt.empty(B.shape, 'f32', 'B·diag(S)'), B, u.S.data);
    rt.release(owned);
    owned = scaled;
    B = scaled;
  }
  return owned ?? copy(ctx, B, rt.empty(B.shape, 'f32', 'B'));
}

/** W + s·B M A as a new frozen leaf. */
export function mergeLowRank(rt: Runtime, W: Tensor, update: LowRankUpdate, name: string): Tensor {
  const ctx = gpuContextOf(rt);
  const B = effectiveB(rt, update);
  const merged = copy(ctx, W.data, rt.empty(W.shape, 'f32', name));
  matmulInto(ctx, B, update.A.data, merged, { alpha: update.scaling, accumulate: true });
  rt.release(B);
  return Tensor.leaf(merged, false, name);
}

/** B M (the left factor with S or R folded in), read back: what a LoRA export stores as lora_B. */
export async function readEffectiveB(rt: Runtime, update: LowRankUpdate): Promise<Float32Array> {
  const B = effectiveB(rt, update);
  const values = await rt.read(B);
  rt.release(B);
  return values;
}
