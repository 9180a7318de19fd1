import { describe, expect, it } from 'vitest';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { linear } from './linear';
import { selectPosition, splitLastDim } from './split';

// float64 reference: columns [offset, offset + width) of x [N, total]
function columnsRef(x: Float64Array, N: number, total: number, offset: number, width: number): Float64Array {
  const y = new Float64Array(N * width);
  for (let n = 0; n < N; n++) for (let j = 0; j < width; j++) y[n * width + j] = x[n * total + offset + j]!;
  return y;
}

describe('splitLastDim', () => {
  for (const [N, sizes] of [
    [1, [1, 1, 1]],
    [7, [5, 33, 2]],
    [3, [12, 4]],
  ] as const) {
    sizes.forEach((width, part) => {
      const total = sizes.reduce((a, b) => a + b, 0);
      const offset = sizes.slice(0, part).reduce((a, b) => a + b, 0);
      it(`part ${part} of [${N}, ${sizes.join('+')}] matches float64 and finite differences`, async () => {
        const ctx = await testContext();
        const result = await gradcheck(ctx, {
          inputs: [{ name: 'x', shape: [N, total] }],
          gpu: (g, [x]) => splitLastDim(g, x!, sizes)[part]!,
          cpu: ([x]) => columnsRef(x!, N, total, offset, width),
        });
        expect(result.forwardError).toBe(0);
        expect(result.gradErrors.x).toBeLessThan(1e-6);
      });
    });
  }

  it("sends a downstream op's gradient to the part's columns only (zero elsewhere)", async () => {
    const ctx = await testContext();
    const [N, a, b] = [4, 3, 5];
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [N, a + b] },
        { name: 'W', shape: [2, b] },
      ],
      gpu: (g, [x, W]) => linear(g, splitLastDim(g, x!, [a, b])[1]!, W!),
      cpu: ([x, W]) => {
        const p = columnsRef(x!, N, a + b, a, b);
        const y = new Float64Array(N * 2);
        for (let n = 0; n < N; n++) for (let o = 0; o < 2; o++) for (let i = 0; i < b; i++) y[n * 2 + o]! += p[n * b + i]! * W![o * b + i]!;
        return y;
      },
      samples: 64,
    });
    expect(result.forwardError).toBeLessThan(1e-6);
    expect(result.gradErrors.x).toBeLessThan(1e-5);
  });

  it('refuses sizes that do not partition the last dimension', async () => {
    const ctx = await testContext();
    const { Graph } = await import('../graph');
    const { Tensor } = await import('../tensor');
    const g = new Graph(ctx);
    const x = Tensor.leaf(ctx.uploadF32(new Float32Array(6), [2, 3]), false, 'x');
    expect(() => splitLastDim(g, x, [1, 1])).toThrow(/do not partition/);
    ctx.release(x.data);
    g.destroy();
  });
});

describe('selectPosition', () => {
  for (const [B, T, C, t] of [
    [1, 1, 1, 0],
    [1, 7, 5, 6],
    [3, 5, 4, 2],
    [2, 9, 33, 0],
  ] as const) {
    it(`position ${t} of [${B}, ${T}, ${C}] matches float64 and finite differences`, async () => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, {
        inputs: [{ name: 'x', shape: [B, T, C] }],
        gpu: (g, [x]) => selectPosition(g, x!, t),
        cpu: ([x]) => columnsRef(x!, B, T * C, t * C, C),
      });
      expect(result.forwardError).toBe(0);
      expect(result.gradErrors.x).toBeLessThan(1e-6);
    });
  }

  it('refuses a position outside [0, T) or a tensor that is not [B, T, C]', async () => {
    const ctx = await testContext();
    const { Graph } = await import('../graph');
    const { Tensor } = await import('../tensor');
    const g = new Graph(ctx);
    const x = Tensor.leaf(ctx.uploadF32(new Float32Array(6), [1, 2, 3]), false, 'x');
    expect(() => selectPosition(g, x, 2)).toThrow(/position 2/);
    const flat = Tensor.leaf(ctx.uploadF32(new Float32Array(6), [2, 3]), false, 'flat');
    expect(() => selectPosition(g, flat, 0)).toThrow(/expected \[B, T, C\]/);
    ctx.release(x.data, flat.data);
    g.destroy();
  });
});
