// The pool's size classes: never below the request, a power of two stays itself, and the slack
// within each tier's bound (25 % below 1 MiB, 6.25 % from 1 MiB, 1.6 % from 64 MiB).

import { describe, expect, it } from 'vitest';
import { sizeClassOf } from './pool';

const MiB = 2 ** 20;

describe('sizeClassOf', () => {
  it('rounds up within each tier’s slack, keeps powers of two, and never shrinks', () => {
    const tiers: [number, number, number][] = [
      [257, MiB, 0.25],
      [MiB + 1, 64 * MiB, 1 / 16],
      [64 * MiB + 1, 2 ** 31, 1 / 64],
    ];
    for (const [from, to, slack] of tiers) {
      for (let i = 0; i < 2000; i++) {
        const bytes = Math.floor(from + ((to - from) * i) / 1999);
        const size = sizeClassOf(bytes);
        expect(size).toBeGreaterThanOrEqual(bytes);
        expect(size / bytes).toBeLessThanOrEqual(1 + slack);
        expect(sizeClassOf(size)).toBe(size);
      }
    }
    for (let e = 8; e <= 31; e++) expect(sizeClassOf(2 ** e)).toBe(2 ** e);
    expect(sizeClassOf(1)).toBe(256);
  });

  it('gives the sizes the memory plans assume for real models’ weights', () => {
    // Qwen2.5-0.5B: the bf16 embedding [151936, 896] and an MLP weight [4864, 896].
    expect(sizeClassOf(151936 * 896 * 2)).toBe(260 * MiB);
    expect(sizeClassOf(4864 * 896 * 2)).toBe(8.5 * MiB);
    // Below 1 MiB: quarters.
    expect(sizeClassOf(5 * 2 ** 17 + 1)).toBe(3 * 2 ** 18);
  });
});
