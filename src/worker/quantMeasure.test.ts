// The studio's measurement schedule (quantMeasure.ts) with stand-in methods: a zero budget makes
// one call, an infinite one drains every queued method in order, methods without quantized
// bases are not queued, and each call asks for a few layers only.

import { describe, expect, it } from 'vitest';
import type { AdaptedModel, QuantMeasureOptions } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import { PendingMeasurements } from './quantMeasure';

function fake(name: string, layers: number, calls: string[]): AdaptedModel {
  let pending = layers;
  return {
    measureQuantErrors: async (_rt: unknown, options: QuantMeasureOptions = {}) => {
      const take = Math.min(pending, options.maxLayers ?? pending);
      pending -= take;
      calls.push(`${name}:${take}`);
      return { layers: [], pending };
    },
  } as unknown as AdaptedModel;
}

describe('PendingMeasurements', () => {
  const rt = {} as GpuContext;

  it('measures a few layers per call, one call on a zero budget, everything on an infinite one, in order', async () => {
    const calls: string[] = [];
    const m = new PendingMeasurements();
    m.add(fake('a', 6, calls));
    m.add({} as AdaptedModel); // no quantized base: nothing to measure
    m.add(fake('b', 3, calls));
    expect(m.pending).toBe(true);
    await m.run(rt, 0);
    expect(calls).toEqual(['a:4']);
    await m.run(rt, Infinity);
    expect(calls).toEqual(['a:4', 'a:2', 'b:3']);
    expect(m.pending).toBe(false);
    await m.run(rt, Infinity);
    expect(calls).toHaveLength(3);
  });

  it('clear() forgets what is queued', async () => {
    const calls: string[] = [];
    const m = new PendingMeasurements();
    m.add(fake('a', 2, calls));
    m.clear();
    await m.run(rt, Infinity);
    expect(calls).toEqual([]);
  });
});
