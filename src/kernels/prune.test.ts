// Tests of shaders/prune.wgsl against a float64 CPU reference (a stable sort of each row by
// (score, column)): unstructured magnitude and Wanda pruning at several ratios with the exact
// count per row, N:M patterns (2:4, 4:8), deterministic tie-breaking on heavily tied rows, rows far
// wider than a workgroup, scores spanning many binades (radix passes), the activation norms, and
// shape errors.

import { describe, expect, it } from 'vitest';
import { GpuError } from '../errors';
import { testContext } from '../test/gpu';
import { randomArray, relativeError, rng } from '../test/reference';
import { accumulateInputSquares, inputNorms, prunedPerRow, pruneWeights, type PrunePattern } from './prune';

// ---- float64 reference -------------------------------------------------------------------------

/** Scores as the GPU computes them: |w| (f32) or the f32-rounded product |w|·norm. */
function scoresRef(W: Float32Array, rows: number, cols: number, norms?: Float32Array): Float64Array {
  const s = new Float64Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    const a = Math.abs(W[i]!);
    s[i] = norms ? Math.fround(a * norms[i % cols]!) : a;
  }
  return s;
}

/** Zeroes, within each segment [start, start + len) of a row, the `k` lowest by (score, column). */
function pruneRef(W: Float32Array, rows: number, cols: number, pattern: PrunePattern, norms?: Float32Array): Float32Array {
  const s = scoresRef(W, rows, cols, norms);
  const out = Float32Array.from(W);
  const [len, k] = pattern.kind === 'unstructured' ? [cols, prunedPerRow(cols, pattern.ratio)] : [pattern.m, pattern.m - pattern.n];
  for (let r = 0; r < rows; r++) {
    for (let g0 = 0; g0 < cols; g0 += len) {
      const idx = Array.from({ length: len }, (_, t) => g0 + t);
      idx.sort((a, b) => s[r * cols + a]! - s[r * cols + b]! || a - b);
      for (const j of idx.slice(0, k)) out[r * cols + j] = 0;
    }
  }
  return out;
}

function zerosPerRow(W: ArrayLike<number>, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let z = 0;
    for (let j = 0; j < cols; j++) if (W[r * cols + j] === 0) z++;
    return z;
  });
}

/** Random nonzero weights whose magnitudes span 2^-20 .. 2^10 (exercises every radix digit). */
function wideArray(size: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: size }, () => (next() < 0.5 ? -1 : 1) * 2 ** (next() * 30 - 20));
}

/** Positive norms spread over two decades, so Wanda's order differs from magnitude's. */
function normsArray(cols: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: cols }, () => 10 ** (next() * 2 - 1));
}

const SHAPES: [number, number][] = [
  [1, 1],
  [7, 33],
  [33, 7],
  [5, 100],
  [3, 1031], // a row far wider than a workgroup (several columns per invocation)
];
const RATIOS = [0, 0.25, 0.5, 0.75, 1, 0.29];

describe('pruneWeights, unstructured', () => {
  it.each(['magnitude', 'wanda'] as const)('%s: matches the float64 reference and prunes floor(ratio·in) per row', async (method) => {
    const ctx = await testContext();
    for (const [rows, cols] of SHAPES) {
      const data = rows * cols > 300 ? wideArray(rows * cols, rows + cols) : randomArray(rows * cols, rows * 31 + cols);
      const norms = method === 'wanda' ? normsArray(cols, cols) : undefined;
      const W = ctx.uploadF32(data, [rows, cols], 'W');
      const normsT = norms ? ctx.uploadF32(norms, [cols], 'norms') : undefined;
      for (const ratio of RATIOS) {
        const pattern = { kind: 'unstructured', ratio } as const;
        const P = pruneWeights(ctx, W, { method, pattern, inputNorms: normsT });
        const got = await ctx.read(P);
        const where = `${method} [${rows},${cols}] ratio ${ratio}`;
        expect(Array.from(got), where).toEqual(Array.from(pruneRef(data, rows, cols, pattern, norms)));
        expect(zerosPerRow(got, rows, cols), where).toEqual(Array(rows).fill(prunedPerRow(cols, ratio)));
        ctx.release(P);
      }
      expect(Array.from(await ctx.read(W))).toEqual(Array.from(data)); // W untouched
      ctx.release(W, normsT);
    }
  });

  it('states its rounding: floor(ratio·in), robust to decimal ratios', () => {
    expect(prunedPerRow(100, 0.29)).toBe(29); // 0.29·100 = 28.999999999999996 in binary
    expect(prunedPerRow(7, 0.5)).toBe(3);
    expect(prunedPerRow(33, 0.75)).toBe(24);
    expect(prunedPerRow(33, 1)).toBe(33);
    expect(prunedPerRow(1, 0.5)).toBe(0);
  });

  it('breaks ties by column (lower column pruned first), deterministically', async () => {
    const ctx = await testContext();
    const [rows, cols] = [6, 150];
    const next = rng(5);
    const levels = [0, 0.25, -0.25, 0.5, -0.5, 1];
    const data = Float32Array.from({ length: rows * cols }, () => levels[Math.floor(next() * levels.length)]!);
    data.fill(0.75, 0, cols); // row 0: all equal
    data.fill(0, cols, 2 * cols); // row 1: all zero
    const W = ctx.uploadF32(data, [rows, cols], 'W');
    for (const ratio of [0.1, 0.5, 0.75]) {
      const pattern = { kind: 'unstructured', ratio } as const;
      const first = await ctx.read(pruneWeights(ctx, W, { method: 'magnitude', pattern }));
      const second = await ctx.read(pruneWeights(ctx, W, { method: 'magnitude', pattern }));
      expect(Array.from(first)).toEqual(Array.from(pruneRef(data, rows, cols, pattern)));
      expect(Array.from(second)).toEqual(Array.from(first));
      const k = prunedPerRow(cols, ratio);
      // Row 0: the first k columns go, the rest stay.
      expect(Array.from(first.slice(0, cols))).toEqual([...Array(k).fill(0), ...Array(cols - k).fill(0.75)]);
    }
    // −0 and +0 score the same: the order is still by column.
    const signed = ctx.uploadF32([-0, 0, -0, 0, 1, -1, 1, -1], [1, 8], 'W');
    const got = await ctx.read(pruneWeights(ctx, signed, { method: 'magnitude', pattern: { kind: 'unstructured', ratio: 0.75 } }));
    expect(Array.from(got)).toEqual([0, 0, 0, 0, 0, 0, 1, -1]);
  });

  it('wanda and magnitude differ when the norms vary, and agree when they are constant', async () => {
    const ctx = await testContext();
    const [rows, cols] = [8, 64];
    const data = randomArray(rows * cols, 77);
    const W = ctx.uploadF32(data, [rows, cols], 'W');
    const pattern = { kind: 'unstructured', ratio: 0.5 } as const;
    const magnitude = await ctx.read(pruneWeights(ctx, W, { method: 'magnitude', pattern }));
    const varied = normsArray(cols, 3);
    const wanda = await ctx.read(pruneWeights(ctx, W, { method: 'wanda', pattern, inputNorms: ctx.uploadF32(varied, [cols]) }));
    const maskDiff = magnitude.reduce((acc, v, i) => acc + ((v === 0) !== (wanda[i] === 0) ? 1 : 0), 0);
    expect(maskDiff).toBeGreaterThan(rows * cols * 0.05);
    // A constant norm of 2 scales every score by an exact power of two: same mask.
    const constant = ctx.uploadF32(new Float32Array(cols).fill(2), [cols]);
    const wandaConst = await ctx.read(pruneWeights(ctx, W, { method: 'wanda', pattern, inputNorms: constant }));
    expect(Array.from(wandaConst)).toEqual(Array.from(magnitude));
  });
});

describe('pruneWeights, N:M', () => {
  for (const [n, m] of [
    [2, 4],
    [4, 8],
    [1, 4],
    [3, 3],
  ] as const) {
    it.each(['magnitude', 'wanda'] as const)(`${n}:${m} %s: exact pattern, N kept in every group`, async (method) => {
      const ctx = await testContext();
      for (const [rows, cols] of [
        [1, m],
        [7, 4 * m * 3],
        [33, 8 * m],
      ] as const) {
        const data = randomArray(rows * cols, rows * 7 + cols + m);
        const norms = method === 'wanda' ? normsArray(cols, cols + 1) : undefined;
        const W = ctx.uploadF32(data, [rows, cols], 'W');
        const normsT = norms ? ctx.uploadF32(norms, [cols], 'norms') : undefined;
        const pattern = { kind: 'nm', n, m } as const;
        const got = await ctx.read(pruneWeights(ctx, W, { method, pattern, inputNorms: normsT }));
        expect(Array.from(got)).toEqual(Array.from(pruneRef(data, rows, cols, pattern, norms)));
        for (let g = 0; g < (rows * cols) / m; g++) {
          const kept = got.slice(g * m, (g + 1) * m).filter((v) => v !== 0).length;
          expect(kept).toBe(n);
        }
        ctx.release(W, normsT);
      }
    });
  }

  it('breaks ties within a group by column', async () => {
    const ctx = await testContext();
    const W = ctx.uploadF32([1, 1, 1, 1, 2, -1, 1, -2, 0, 0, 3, 0, 5, 5, 5, 5, 5, 5, 5, 5], [1, 20], 'W');
    const got = await ctx.read(pruneWeights(ctx, W, { method: 'magnitude', pattern: { kind: 'nm', n: 2, m: 4 } }));
    expect(Array.from(got)).toEqual([0, 0, 1, 1, 2, 0, 0, -2, 0, 0, 3, 0, 0, 0, 5, 5, 0, 0, 5, 5]);
  });
});

describe('activation norms for wanda', () => {
  it('accumulates Σ x² over batches and takes the square root', async () => {
    const ctx = await testContext();
    const cols = 33;
    const batches = [
      { shape: [7, cols], data: randomArray(7 * cols, 1) },
      { shape: [2, 3, cols], data: randomArray(6 * cols, 2, 3) },
      { shape: [1, cols], data: randomArray(cols, 3) },
    ];
    const acc = ctx.uploadF32(new Float32Array(cols), [cols], 'acc');
    const want = new Float64Array(cols);
    for (const b of batches) {
      const x = ctx.uploadF32(b.data, b.shape, 'x');
      accumulateInputSquares(ctx, x, acc);
      for (let i = 0; i < b.data.length; i++) want[i % cols] = want[i % cols]! + b.data[i]! ** 2;
      ctx.release(x);
    }
    expect(relativeError(await ctx.read(acc), want)).toBeLessThan(1e-6);
    const norms = inputNorms(ctx, acc);
    expect(relativeError(await ctx.read(norms), want.map(Math.sqrt))).toBeLessThan(1e-6);
  });
});

describe('errors', () => {
  it('rejects bad shapes and options with a GpuError naming the problem', async () => {
    const ctx = await testContext();
    const W = ctx.uploadF32(randomArray(4 * 6, 1), [4, 6], 'W');
    const norms = ctx.uploadF32(new Float32Array(6).fill(1), [6], 'norms');
    const unstructured = { kind: 'unstructured', ratio: 0.5 } as const;
    expect(() => pruneWeights(ctx, W, { method: 'wanda', pattern: unstructured })).toThrow(/inputNorms/);
    expect(() => pruneWeights(ctx, W, { method: 'wanda', pattern: unstructured, inputNorms: ctx.uploadF32([1, 2], [2]) })).toThrow(/\[6\]/);
    expect(() => pruneWeights(ctx, W, { method: 'magnitude', pattern: unstructured, inputNorms: norms })).toThrow(GpuError);
    expect(() => pruneWeights(ctx, W, { method: 'magnitude', pattern: { kind: 'unstructured', ratio: 1.5 } })).toThrow(/outside/);
    expect(() => pruneWeights(ctx, W, { method: 'magnitude', pattern: { kind: 'nm', n: 2, m: 4 } })).toThrow(/divisible/);
    expect(() => pruneWeights(ctx, W, { method: 'magnitude', pattern: { kind: 'nm', n: 3, m: 2 } })).toThrow(/1 ≤ N ≤ M/);
    expect(() => pruneWeights(ctx, W.view([24]), { method: 'magnitude', pattern: unstructured })).toThrow(/\[out, in\]/);
    expect(() => accumulateInputSquares(ctx, W, ctx.uploadF32([0, 0], [2]))).toThrow(/acc must be \[6\]/);
  });
});
