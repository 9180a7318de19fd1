// GPU test fixtures: one device per test file (Dawn in Node, SwiftShader on GPU-less machines),
// with every dispatch submitted and error-checked on its own so a failure names its kernel.

import { afterAll } from 'vitest';
import { GpuContext } from '../gpu/context';
import { acquireNodeDevice } from '../gpu/node';
import { Tensor } from '../tensor/tensor';
import { randomArray } from './reference';

let shared: Promise<GpuContext> | undefined;

export function testContext(): Promise<GpuContext> {
  if (!shared) {
    shared = acquireNodeDevice({ defaultLimitsOnly: true }).then((acquired) => new GpuContext(acquired, { checkEachDispatch: true }));
    afterAll(async () => {
      const ctx = await shared;
      ctx?.destroy();
      shared = undefined;
    });
  }
  return shared;
}

/** A leaf tensor of random values (randomArray, seed 1) with the given shape: the inputs of a shape-check test. */
export function randomLeaf(ctx: GpuContext, shape: readonly number[], requiresGrad = true): Tensor {
  return Tensor.leaf(
    ctx.uploadF32(
      randomArray(
        shape.reduce((a, b) => a * b, 1),
        1,
      ),
      shape,
    ),
    requiresGrad,
    't',
  );
}
