// Plumbing of the matmul benchmark on tiny shapes: the product it times is the right one, the
// figures are finite and positive, a peer's figures and ratio land in the row, and the shape
// parser reads the CLI's notation. (Speed itself is never asserted: see BENCHMARKS.md.)

import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { nodeGpu } from '../gpu/node';
import { installNodeNavigator } from '../../bench/tfjsPeer';
import { matmulRef, relativeError } from '../test/reference';
import {
  DEFAULT_BENCH_SHAPES,
  QUICK_BENCH_SHAPES,
  benchInput,
  formatBenchTable,
  maxDifference,
  parseShape,
  prepareOurs,
  productShape,
  runMatmulBench,
  sampledError,
  shapeFlops,
  storedShapeA,
  storedShapeB,
  variantsFor,
} from './matmulBench';
import type { MatmulBenchShape, MatmulPeer, PreparedProduct } from './types';

const FAST_PLAN = { warmup: 1, minReps: 2, maxReps: 2, targetSeconds: 0, minRunMs: 0 };

const TINY: MatmulBenchShape[] = [
  productShape(8, 12, 16),
  productShape(8, 12, 16, false, true),
  productShape(12, 8, 16, true, false),
  productShape(8, 12, 16, true, true),
  productShape(5, 7, 3), // unaligned: the vec4 variant does not apply
];

/** A CPU "peer" (float64 reference), to check the peer plumbing without tfjs. */
function cpuPeer(): MatmulPeer & { disposed: boolean } {
  const peer = {
    name: 'cpu-reference',
    adapter: 'cpu',
    disposed: false,
    async prepare(shape: MatmulBenchShape, a: Float32Array, b: Float32Array): Promise<PreparedProduct> {
      let out = new Float32Array(0);
      return {
        async run(times = 1) {
          for (let i = 0; i < times; i++) out = Float32Array.from(matmulRef(a, b, shape.M, shape.N, shape.K, shape.transA, shape.transB));
        },
        read: async () => out,
        dispose() {},
      };
    },
    dispose() {
      peer.disposed = true;
    },
  };
  return peer;
}

describe('matmul benchmark', () => {
  it('times the right product for every transpose combination (registers and vec4)', async () => {
    const ctx = await testContext();
    for (const shape of TINY) {
      const a = benchInput(shape.M * shape.K, 1);
      const b = benchInput(shape.K * shape.N, 2);
      const want = matmulRef(a, b, shape.M, shape.N, shape.K, shape.transA, shape.transB);
      // tiled: covered by src/kernels/matmul.test.ts (slow to compile on SwiftShader)
      for (const variant of variantsFor(ctx, shape, ['registers', 'vec4'])) {
        const product = prepareOurs(ctx, shape, a, b, variant);
        await product.run();
        await product.run(); // a second run overwrites, it does not accumulate
        const got = await product.read();
        product.dispose();
        expect(relativeError(got, want), `${shape.label} ${variant}`).toBeLessThan(1e-5);
        expect(sampledError(shape, a, b, got)).toBeLessThan(1e-5);
      }
    }
  });

  it('reports finite positive GFLOP/s and no peer columns without a peer', async () => {
    const ctx = await testContext();
    const streamed: string[] = [];
    const rows = await runMatmulBench(ctx, {
      shapes: TINY,
      includePeer: false,
      plan: FAST_PLAN,
      onRow: (row) => streamed.push(row.shape.label),
    });
    expect(rows).toHaveLength(TINY.length);
    expect(streamed).toEqual(TINY.map((s) => s.label));
    for (const row of rows) {
      expect(Number.isFinite(row.oursGflops) && row.oursGflops > 0).toBe(true);
      expect(row.ours?.reps).toBe(2);
      expect(row.flops).toBe(shapeFlops(row.shape));
      expect(row.peerGflops).toBeNull();
      expect(row.ratio).toBeNull();
      expect(row.sampleError).toBeLessThan(1e-5);
    }
    // The unaligned shape falls back from vec4.
    expect(rows[4]!.variant).not.toBe('vec4');
    // Rows are plain data: they cross postMessage to the page.
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows);
  });

  it('times a peer on the same inputs and reports the ratio and the output difference', async () => {
    const ctx = await testContext();
    const peer = cpuPeer();
    const rows = await runMatmulBench(ctx, { shapes: TINY.slice(0, 2), includePeer: true, peer, plan: FAST_PLAN, variants: ['registers', 'vec4'] });
    expect(rows).toHaveLength(4); // two variants per shape
    for (const row of rows) {
      expect(row.peerGflops! > 0 && Number.isFinite(row.peerGflops!)).toBe(true);
      expect(row.ratio).toBeCloseTo(row.oursGflops / row.peerGflops!, 10);
      expect(row.peerDifference).toBeLessThan(1e-5);
      expect(row.peerError).toBeUndefined();
    }
    expect(peer.disposed).toBe(false); // a peer passed in is the caller's to dispose
    expect(formatBenchTable(rows)).toContain('ours/tfjs');
  });

  it('records several products per run when one is shorter than minRunMs', async () => {
    const ctx = await testContext();
    const [row] = await runMatmulBench(ctx, { shapes: [productShape(4, 4, 4)], includePeer: false, plan: { ...FAST_PLAN, minRunMs: 1e4 } });
    expect(row!.ours!.productsPerRun).toBeGreaterThan(1);
    expect(row!.oursGflops).toBeCloseTo((shapeFlops(row!.shape) * row!.ours!.productsPerRun) / (row!.ours!.medianMs * 1e6), 6);
    expect(row!.sampleError).toBeLessThan(1e-5); // repeated products overwrite, not accumulate
  });

  it('keeps going with null peer figures when the peer fails', async () => {
    const ctx = await testContext();
    const rows = await runMatmulBench(ctx, {
      shapes: TINY.slice(0, 1),
      includePeer: true,
      peer: async () => {
        throw new Error('no tfjs here');
      },
      plan: FAST_PLAN,
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.oursGflops).toBeGreaterThan(0);
    expect(rows[0]!.peerGflops).toBeNull();
    expect(rows[0]!.peerError).toContain('no tfjs here');
  });

  it('loads tfjs-backend-webgpu as the default peer and agrees with it', async () => {
    const ctx = await testContext();
    installNodeNavigator(await nodeGpu());
    const rows = await runMatmulBench(ctx, { shapes: [productShape(16, 32, 64), productShape(16, 64, 32, false, true)], includePeer: true, plan: FAST_PLAN });
    for (const row of rows) {
      expect(row.peerError).toBeUndefined();
      expect(row.peerGflops! > 0 && Number.isFinite(row.peerGflops!)).toBe(true);
      expect(row.peerDifference).toBeLessThan(1e-5);
    }
  });

  it('parses the CLI shape notation', () => {
    expect(parseShape('512x768x3072')).toMatchObject({ M: 512, K: 768, N: 3072, transA: false, transB: false });
    expect(parseShape('512x3072x768:nt')).toMatchObject({ M: 512, K: 3072, N: 768, transA: false, transB: true });
    expect(parseShape('768x512x3072:TN')).toMatchObject({ M: 768, K: 512, N: 3072, transA: true, transB: false });
    expect(parseShape('1024')).toMatchObject({ M: 1024, K: 1024, N: 1024 });
    expect(parseShape('512x3072x768:nt').label).toBe('512×3072 · (768×3072)ᵀ');
    expect(() => parseShape('512x768')).toThrow(/bad shape/);
    expect(() => parseShape('0x1x1')).toThrow(/positive/);
  });

  it('lists the issue’s shapes by default and small ones for --quick', () => {
    const labels = DEFAULT_BENCH_SHAPES.map((s) => s.label);
    for (const n of [256, 512, 1024, 2048]) expect(labels).toContain(`${n}×${n} · ${n}×${n}`);
    expect(labels).toContain('512×768 · 768×3072');
    expect(labels).toContain('512×3072 · (768×3072)ᵀ');
    expect(labels).toContain('(512×768)ᵀ · 512×3072');
    for (const s of [...DEFAULT_BENCH_SHAPES, ...QUICK_BENCH_SHAPES]) {
      // Stored operand shapes multiply out to the product shape.
      expect(storedShapeA(s)[0] * storedShapeA(s)[1]).toBe(s.M * s.K);
      expect(storedShapeB(s)[0] * storedShapeB(s)[1]).toBe(s.K * s.N);
    }
    expect(Math.max(...QUICK_BENCH_SHAPES.map(shapeFlops))).toBeLessThanOrEqual(2 * 512 ** 3);
  });

  it('compares outputs normwise and flags NaN', () => {
    expect(maxDifference(new Float32Array([1, 2]), new Float32Array([1, 2]))).toBe(0);
    expect(maxDifference(new Float32Array([1, NaN]), new Float32Array([1, 2]))).toBe(Number.POSITIVE_INFINITY);
    expect(maxDifference(new Float32Array([1]), new Float32Array([1, 2]))).toBe(Number.POSITIVE_INFINITY);
  });
});
