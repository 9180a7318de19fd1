import { describe, expect, it } from 'vitest';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { mulColumns, scale } from './scaling';

describe('scale', () => {
  for (const shape of [[1], [7, 33], [2, 3, 5]]) {
    it(`matches float64 and finite differences for [${shape.join(',')}]`, async () => {
      const ctx = await testContext();
      const s = -1.75;
      const result = await gradcheck(ctx, {
        inputs: [{ name: 'x', shape }],
        gpu: (g, [x]) => scale(g, x!, s),
        cpu: ([x]) => x!.map((v) => v * s),
      });
      expect(result.forwardError).toBeLessThan(1e-6);
      expect(result.gradErrors.x).toBeLessThan(1e-5);
    });
  }
});

describe('mulColumns', () => {
  for (const [N, R] of [
    [1, 1],
    [7, 33],
    [12, 8],
  ] as const) {
    it(`matches float64 and finite differences for x [${N}, ${R}]`, async () => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'x', shape: [N, R] },
          { name: 'v', shape: [R] },
        ],
        gpu: (g, [x, v]) => mulColumns(g, x!, v!),
        cpu: ([x, v]) => x!.map((value, i) => value * v![i % R]!),
      });
      expect(result.forwardError).toBeLessThan(1e-6);
      expect(result.gradErrors.x).toBeLessThan(1e-5);
      expect(result.gradErrors.v).toBeLessThan(1e-5);
    });
  }
});
