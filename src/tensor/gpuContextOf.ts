// The bridge from the narrow Runtime to the full GPU context, for the code that records kernels:
// tensor ops, the Graph, and linalg's entry points (linalg sits below adapters and is built from
// kernels). Models, adapters and train may not import this file (eslint.config.js): they reach
// kernels only through tensor ops.

import { GpuContext } from '../gpu/context';
import { InternalError } from '../errors';
import type { Runtime } from './runtime';

export function gpuContextOf(rt: Runtime): GpuContext {
  if (rt instanceof GpuContext) return rt;
  throw new InternalError('this Runtime is not a GpuContext (gpu/context.ts), the one implementation that can record kernels');
}
