// A frozen NF4 (4-bit, QLoRA) weight as the layers above see it (kernels/nf4.ts holds the codes
// and the kernels): its dense f32 form for merges, exports and spectra, and its release.
// Quantizing is linalg's (linalg/quantInit.ts); the product with it is nf4Linear.ts.

import type { GpuTensor } from '../../gpu/tensor';
import { dequantizeNf4 as dequantizeKernel, releaseNf4 as releaseKernel, type Nf4Weight } from '../../kernels/nf4';
import { gpuContextOf } from '../gpuContextOf';
import type { Runtime } from '../runtime';

export type { Nf4Weight } from '../../kernels/nf4';

/** deq(Q) f32 [out, in] as a new tensor the caller releases (bit-exact to bitsandbytes' dequantize_4bit). */
export function dequantizeNf4(rt: Runtime, q: Nf4Weight): GpuTensor {
  return dequantizeKernel(gpuContextOf(rt), q);
}

/** Releases every tensor of q. */
export function releaseNf4(rt: Runtime, q: Nf4Weight): void {
  releaseKernel(gpuContextOf(rt), q);
}
