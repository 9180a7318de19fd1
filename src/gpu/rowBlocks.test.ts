// How a matrix over the per-buffer limits is cut into row blocks (gpu/rowBlocks.ts): one block
// when it fits, else the fewest blocks within min(binding limit, 0.8 · buffer limit), rows a
// multiple of 4 but the last, sized by the f32 form whatever the storage; the real models'
// embeddings at WebGPU's default limits.

import { describe, expect, it } from 'vitest';
import { sizeClassOf } from './pool';
import { blockByteLimit, rowBlockRows } from './rowBlocks';

const MIB = 1024 ** 2;
const DEFAULTS = { maxStorageBufferBindingSize: 128 * MIB, maxBufferSize: 256 * MIB };

describe('rowBlockRows', () => {
  it('keeps a matrix that fits in one block', () => {
    expect(rowBlockRows(49152, 576, DEFAULTS)).toEqual([49152]); // SmolLM2-135M: 113 MB in f32
    expect(rowBlockRows(1, 1, { maxStorageBufferBindingSize: 4, maxBufferSize: 8 })).toEqual([1]);
  });

  for (const [name, V, C, blocks] of [
    ['GPT-2 124M wte', 50257, 768, 2],
    ['Qwen2.5-0.5B embed_tokens', 151936, 896, 5],
    ['Gemma-3-270M embed_tokens', 262144, 640, 6],
    ['Qwen3-0.6B embed_tokens', 151936, 1024, 5],
  ] as const) {
    it(`${name} [${V}, ${C}] at the default limits: ${blocks} blocks, each within a binding and a buffer`, () => {
      const rows = rowBlockRows(V, C, DEFAULTS);
      expect(rows).toHaveLength(blocks);
      expect(rows.reduce((a, b) => a + b, 0)).toBe(V);
      for (const [i, r] of rows.entries()) {
        expect(4 * r * C).toBeLessThanOrEqual(DEFAULTS.maxStorageBufferBindingSize);
        expect(sizeClassOf(4 * r * C)).toBeLessThanOrEqual(DEFAULTS.maxBufferSize);
        if (i < rows.length - 1) expect(r % 4).toBe(0);
      }
    });
  }

  it('cuts at odd sizes within a small limit, and refuses when two rows do not fit', () => {
    const limits = { maxStorageBufferBindingSize: 4 * 7 * 9, maxBufferSize: 1 << 20 }; // 9 rows of 7
    expect(blockByteLimit(limits)).toBe(252);
    expect(rowBlockRows(33, 7, limits)).toEqual([8, 8, 8, 8, 1]);
    expect(rowBlockRows(7, 7, limits)).toEqual([7]);
    expect(rowBlockRows(100, 1, { maxStorageBufferBindingSize: 12, maxBufferSize: 1 << 20 })).toEqual(Array.from({ length: 50 }, () => 2));
    expect(() => rowBlockRows(5, 33, { maxStorageBufferBindingSize: 200, maxBufferSize: 1 << 20 })).toThrow(/two rows.*cannot be split/);
  });
});
