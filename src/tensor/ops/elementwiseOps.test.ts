// Tests of ops/elementwiseOps.ts (add, mul, reshape): GPU forward against float64 and backward
// against finite differences on odd shapes, an op applied to one tensor twice (add(a, a),
// mul(a, a)), gradient ownership (an input's gradient must survive the pool reusing the output
// gradient's buffer; add and reshape hand dy's buffer itself to one input: at most one copy per
// add, none per reshape, nothing leaked or released twice), and reshape's shape rules.

import { describe, expect, it } from 'vitest';
import { fill } from '../../kernels/elementwise';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { add, mul, reshape, resolveShape } from './elementwiseOps';

const SHAPES: number[][] = [[1], [7], [33], [3, 7, 33], [1, 1, 7]];
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

describe('add', () => {
  it.each(SHAPES.map((s) => [s]))('matches float64 and finite differences on %j', async (shape) => {
    const ctx = await testContext();
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'a', shape },
        { name: 'b', shape },
      ],
      gpu: (g, [a, b]) => add(g, a!, b!),
      cpu: ([a, b]) => a!.map((v, i) => v + b![i]!),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.a).toBeLessThan(1e-4);
    expect(result.gradErrors.b).toBeLessThan(1e-4);
  });

  it('doubles the gradient of add(a, a)', async () => {
    const ctx = await testContext();
    const result = await gradcheck(ctx, {
      inputs: [{ name: 'a', shape: [7, 3] }],
      gpu: (g, [a]) => add(g, a!, a!),
      cpu: ([a]) => a!.map((v) => 2 * v),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.a).toBeLessThan(1e-4);
  });

  it('rejects different shapes', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const a = Tensor.leaf(ctx.uploadF32(new Float32Array(6), [2, 3]), true, 'a');
    const b = Tensor.leaf(ctx.uploadF32(new Float32Array(6), [3, 2]), true, 'b');
    expect(() => add(g, a, b)).toThrow(/same shape.*add/);
    ctx.release(a.data, b.data);
    g.destroy();
  });
});

describe('mul', () => {
  it.each(SHAPES.map((s) => [s]))('matches float64 and finite differences on %j', async (shape) => {
    const ctx = await testContext();
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'a', shape },
        { name: 'b', shape },
      ],
      gpu: (g, [a, b]) => mul(g, a!, b!),
      cpu: ([a, b]) => a!.map((v, i) => v * b![i]!),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.a).toBeLessThan(1e-4);
    expect(result.gradErrors.b).toBeLessThan(1e-4);
  });

  it('gives mul(a, a) the gradient 2a, and b none when it needs none', async () => {
    const ctx = await testContext();
    const square = await gradcheck(ctx, {
      inputs: [{ name: 'a', shape: [33] }],
      gpu: (g, [a]) => mul(g, a!, a!),
      cpu: ([a]) => a!.map((v) => v * v),
    });
    expect(square.gradErrors.a).toBeLessThan(1e-4);
    const frozen = await gradcheck(ctx, {
      inputs: [
        { name: 'a', shape: [5, 7] },
        { name: 'b', shape: [5, 7], requiresGrad: false },
      ],
      gpu: (g, [a, b]) => mul(g, a!, b!),
      cpu: ([a, b]) => a!.map((v, i) => v * b![i]!),
    });
    expect(Object.keys(frozen.gradErrors)).toEqual(['a']);
    expect(frozen.gradErrors.a).toBeLessThan(1e-4);
  });
});

describe('reshape', () => {
  it('infers −1 and rejects element-count mismatches', () => {
    expect(resolveShape([3, 7, 33], [21, -1])).toEqual([21, 33]);
    expect(resolveShape([3, 7, 33], [-1])).toEqual([693]);
    expect(resolveShape([1], [1, 1, 1])).toEqual([1, 1, 1]);
    expect(() => resolveShape([3, 7], [4, -1])).toThrow(/cannot view \[3,7\]/);
    expect(() => resolveShape([3, 7], [-1, -1])).toThrow(/reshape/);
    expect(() => resolveShape([3, 7], [22])).toThrow(/21 elements/);
  });

  it.each([
    [
      [3, 7, 33],
      [21, 33],
    ],
    [[7], [7, 1]],
    [[1], [1, 1]],
    [[33, 7], [-1]],
  ])('matches float64 and finite differences for %j → %j (inside a product, so gradients differ per entry)', async (from, to) => {
    const ctx = await testContext();
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: from },
        { name: 'w', shape: resolveShape(from, to) },
      ],
      gpu: (g, [x, w]) => mul(g, reshape(g, x!, to), w!),
      cpu: ([x, w]) => x!.map((v, i) => v * w![i]!),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.x).toBeLessThan(1e-4);
    expect(result.gradErrors.w).toBeLessThan(1e-4);
  });

  it('shares x’s buffer in the forward pass', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const x = Tensor.leaf(ctx.uploadF32(randomArray(21, 3), [3, 7]), false, 'x');
    const y = reshape(g, x, [7, 3]);
    expect(y.shape).toEqual([7, 3]);
    expect(y.data.buffer).toBe(x.data.buffer);
    g.destroy();
    expect(x.data.released).toBe(false); // disposing the graph does not free x through the view
    ctx.release(x.data);
  });
});

describe('gradient ownership', () => {
  it('add copies dy for one input at most, reshape never; values and live bytes as with copies', async () => {
    const ctx = await testContext();
    const shape = [5, 7];
    const leaf = (seed: number) => Tensor.leaf(ctx.uploadF32(randomArray(size(shape), seed), shape), true, `t${seed}`);
    const [a, b] = [leaf(1), leaf(2)];
    const seed = ctx.uploadF32(randomArray(size(shape), 3), shape);
    const live = ctx.stats().liveBytes;
    for (const [name, op, copies] of [
      ['add', (g: Graph) => add(g, a, b), 1],
      ['reshape', (g: Graph) => reshape(g, a, [-1]), 0],
      ['add of a reshape', (g: Graph) => add(g, reshape(g, a, [35]), reshape(g, b, [35])), 1],
    ] as const) {
      const g = new Graph(ctx);
      const y = op(g);
      const before = ctx.counters().dispatches;
      g.backward(y, seed.view(y.shape));
      // backward() copies its seed (one dispatch); the rest are the ops' copies.
      expect(ctx.counters().dispatches - before - 1, name).toBe(copies);
      const values = await ctx.read(seed);
      expect(Array.from(await ctx.read(a.grad!)), name).toEqual(Array.from(values));
      if (b.grad) expect(Array.from(await ctx.read(b.grad)), name).toEqual(Array.from(values));
      ctx.release(a.grad, b.grad);
      a.grad = b.grad = undefined;
      g.destroy();
      // Every buffer came back to the pool exactly once (a double release would free one twice).
      expect(ctx.stats().liveBytes, name).toBe(live);
    }
    ctx.release(a.data, b.data, seed);
  });

  it('a residual stream x + f(x) through adds and reshapes matches finite differences', async () => {
    const ctx = await testContext();
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [3, 11] },
        { name: 'w', shape: [33] },
      ],
      // h = x + reshape(reshape(x)·w); y = h + h·h: gradients reach x by four paths.
      gpu: (g, [x, w]) => {
        const h = add(g, x!, reshape(g, mul(g, reshape(g, x!, [33]), w!), [3, 11]));
        return add(g, h, mul(g, h, h));
      },
      cpu: ([x, w]) =>
        x!.map((v, i) => {
          const h = v + v * w![i]!;
          return h + h * h;
        }),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.x).toBeLessThan(1e-4);
    expect(result.gradErrors.w).toBeLessThan(1e-4);
  });

  it('input gradients survive the pool handing the output gradient’s buffer out again', async () => {
    const ctx = await testContext();
    const shape = [5, 7];
    const ops = {
      add: (g: Graph, a: Tensor, b: Tensor) => add(g, a, b),
      reshape: (g: Graph, a: Tensor) => reshape(g, a, [-1]),
    };
    for (const [name, op] of Object.entries(ops)) {
      const g = new Graph(ctx);
      const a = Tensor.leaf(ctx.uploadF32(randomArray(size(shape), 1), shape), true, 'a');
      const b = Tensor.leaf(ctx.uploadF32(randomArray(size(shape), 2), shape), false, 'b');
      const y = op(g, a, b);
      const seed = randomArray(size(shape), 3);
      const seedTensor = ctx.uploadF32(seed, y.shape);
      g.backward(y, seedTensor);
      // Grab every free buffer of this size class and scribble on it.
      const scribbles = Array.from({ length: 4 }, () => fill(ctx, ctx.empty(y.shape), 123));
      expect(Array.from(await ctx.read(a.grad!)), name).toEqual(Array.from(seed));
      ctx.release(a.data, b.data, a.grad, seedTensor, ...scribbles);
      g.destroy();
    }
  });
});
