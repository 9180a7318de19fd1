// The CI version of `npm run soak` (scripts/soak.ts): 60 steps of the interleaved LoRA / PiSSA /
// QLoRA comparison on tiny-llama with the same checks (train/soak.ts): after the warm-up the
// pool, the JS heap after a forced GC and the context's counters stay within 1 %, and releasing
// the run and the model leaves the pool as it was before the model was loaded. Its own context
// (not testContext's, which submits every dispatch alone): the soak measures the studio's path.

import { afterAll, describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { qlora } from '../adapters/methods/quantized';
import { GpuContext } from '../gpu/context';
import { acquireNodeDevice } from '../gpu/node';
import { modelFiles } from './testing';
import { growthOf, runSoak, soakPassed, type SoakSample } from './soak';
import { heapAfterGc } from './soakNode';

let ctx: GpuContext | undefined;
afterAll(() => ctx?.destroy());

describe('soak', () => {
  it('judges growth from the end of the warm-up (the heap by the trend of its medians)', () => {
    const sample = (step: number, heapBytes: number, pipelines: number): SoakSample => ({
      step,
      heapBytes,
      pipelines,
      liveBytes: 100,
      liveBuffers: 2,
      ownedBytes: 200,
      buffersCreated: 5,
      bindGroupsPerStep: 9,
      dispatchesPerStep: 9,
      processBytes: 0,
    });
    const growth = growthOf([sample(0, 50, 1), sample(5, 1000, 4), sample(10, 1011, 4), sample(15, 1015, 5)], 5, 0.01);
    const of = (metric: string) => growth.find((g) => g.metric === metric)!;
    // The heap's trend: median of the later half (1011, 1015 → 1013) against the earlier (1000).
    expect(of('heapBytes').growth).toBeCloseTo(0.013);
    expect(of('heapBytes').ok).toBe(false);
    // One high sample that comes back down is not a trend.
    const spike = growthOf([sample(5, 1000, 4), sample(10, 1030, 4), sample(15, 1000, 4), sample(20, 1001, 4)], 5, 0.01);
    expect(spike.find((g) => g.metric === 'heapBytes')!.ok).toBe(true);
    expect(of('pipelines').ok).toBe(false);
    expect(of('liveBytes')).toMatchObject({ growth: 0, ok: true });
  });

  it('60 interleaved steps of three methods: pool, heap and counters flat, nothing left after release', async () => {
    ctx = new GpuContext(await acquireNodeDevice({ defaultLimitsOnly: true }));
    const rt = ctx;
    const result = await runSoak(rt, {
      load: () => modelFiles(rt, 'tiny-llama'),
      methods: [lora, pissa, qlora],
      steps: 60,
      sampleEvery: 5,
      heapBytes: heapAfterGc,
    });
    const table = result.growth.map((g) => `${g.metric}: ${g.baseline} → max ${g.max} (${(g.growth * 100).toFixed(2)} %)`).join('\n');
    expect(
      result.growth.filter((g) => !g.ok).map((g) => g.metric),
      table,
    ).toEqual([]);
    expect(result.after).toEqual(result.before);
    expect(result.samples.length).toBe(13);
    expect(soakPassed(result)).toBe(true);
  });
});
