import { describe, expect, it } from 'vitest';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { linearRef } from '../../test/reference';
import { linear } from './linear';

describe('linear', () => {
  for (const [N, inF, outF] of [
    [1, 1, 1],
    [7, 33, 5],
    [12, 8, 100],
  ] as const) {
    it(`forward and backward match float64 and finite differences (N=${N}, in=${inF}, out=${outF})`, async () => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'x', shape: [N, inF] },
          { name: 'W', shape: [outF, inF] },
          { name: 'b', shape: [outF] },
        ],
        gpu: (g, [x, W, b]) => linear(g, x!, W!, b),
        cpu: ([x, W, b]) => linearRef(x!, W!, b, N, inF, outF),
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
      expect(Object.keys(result.gradErrors).sort()).toEqual(['W', 'b', 'x']);
    });
  }

  it('handles leading batch dimensions and no bias', async () => {
    const ctx = await testContext();
    const [B, T, inF, outF] = [2, 3, 4, 6];
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [B, T, inF] },
        { name: 'W', shape: [outF, inF] },
      ],
      gpu: (g, [x, W]) => linear(g, x!, W!),
      cpu: ([x, W]) => linearRef(x!, W!, undefined, B * T, inF, outF),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.x).toBeLessThan(1e-4);
    expect(result.gradErrors.W).toBeLessThan(1e-4);
  });
});
