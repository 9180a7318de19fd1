// GPU test fixtures: one device per test file (Dawn in Node, SwiftShader on GPU-less machines),
// with every dispatch submitted and error-checked on its own so a failure names its kernel.

import { afterAll } from 'vitest';
import { GpuContext } from '../gpu/context';
import { acquireNodeDevice } from '../gpu/node';

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
