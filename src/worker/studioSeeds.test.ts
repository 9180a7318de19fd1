// A studio run with several seeds, in Node on the built-in model (kjv-llama-1m) and math data with
// tiny runs (LoRA on q and v, B 1, T 64): seed k of a run started at seed s gives bit-identical
// losses to a one-seed run at seed s + k; a method added mid-way in the first seed joins the next
// seeds at the same step; a run stopped in its second seed resumes that seed from its checkpoint
// (the seed is read from the checkpoint) bit for bit; a checkpoint of another seed is refused.

import { afterAll, describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import type { ComparisonEvent, ComparisonParams, StudioCheckpoint } from './protocol';
import { destroyTestDevices, openBuiltinSession as openSession } from './testSession';

afterAll(destroyTestDevices);

const STEPS = 3;

function params(extra: Partial<ComparisonParams> = {}): ComparisonParams {
  return {
    methods: [{ id: lora.id, settings: { rank: 2 } }],
    targets: ['q', 'v'],
    lr: 1e-2,
    schedule: 'constant',
    warmup: 0,
    steps: STEPS,
    batch: 1,
    seqLen: 64,
    seed: 3,
    evalEvery: 3,
    clipNorm: 0,
    validationRows: 1,
    validationFraction: 0.1,
    accuracyQuestions: 0,
    ...extra,
  };
}

/** Per seed index (events between 'seed' markers; 0 without any): "method@step" → loss, validation as "method@step/val". */
function lossesBySeed(events: readonly ComparisonEvent[]): Map<number, Map<string, number>> {
  const out = new Map<number, Map<string, number>>();
  let seed = 0;
  const put = (key: string, loss: number) => {
    if (!out.has(seed)) out.set(seed, new Map());
    out.get(seed)!.set(key, loss);
  };
  for (const e of events) {
    if (e.type === 'seed') seed = e.index;
    if (e.type === 'step') put(`${e.method}@${e.point.step}`, e.point.loss);
    if (e.type === 'eval') put(`${e.method}@${e.step}/val`, e.loss);
  }
  return out;
}

function expectSame(actual: Map<string, number> | undefined, expected: Map<string, number> | undefined, what: string): void {
  expect(actual?.size, what).toBe(expected?.size);
  for (const [key, loss] of expected ?? []) expect(Object.is(actual?.get(key), loss), `${what} ${key}: ${actual?.get(key)} vs ${loss}`).toBe(true);
}

describe('studio runs with several seeds', () => {
  it('repeats the comparison with seed s, s + 1, each as a one-seed run at that seed; an added method joins each seed at its step', async () => {
    const session = await openSession();
    const events: ComparisonEvent[] = [];
    const result = await session.startComparison(params({ seeds: 2 }), (e) => {
      events.push(e);
      // PiSSA joins seed 0 after its second step (asked on step 1's event, when step 2 was already
      // recorded: steps overlap); seed 1 must add it at the same step.
      if (e.type === 'step' && e.point.step === 1 && !events.some((x) => x.type === 'seed' && x.index > 0)) void session.addMethod(pissa.id, { rank: 2 });
    });
    const markers = events.flatMap((e) => (e.type === 'seed' ? [`seed ${e.index}/${e.count}=${e.seed}`] : e.type === 'seedDone' ? [`done ${e.index}`] : []));
    expect(markers).toEqual(['seed 0/2=3', 'done 0', 'seed 1/2=4', 'done 1']);
    expect(result.stopped).toBe(false);
    expect(result.seeds?.map((s) => [s.index, s.seed, s.stopped, s.methods.map((m) => [m.id, m.steps, m.startStep])])).toEqual([
      [
        0,
        3,
        false,
        [
          [lora.id, 3, 0],
          [pissa.id, 1, 2],
        ],
      ],
      [
        1,
        4,
        false,
        [
          [lora.id, 3, 0],
          [pissa.id, 1, 2],
        ],
      ],
    ]);
    // The result's own records are the last seed's.
    expect(result.methods).toEqual(result.seeds![1]!.methods);
    const added = events.flatMap((e) => (e.type === 'added' ? [`${e.method}@${e.step}`] : []));
    expect(added).toEqual([`${pissa.id}@2`, `${pissa.id}@2`]);

    const bySeed = lossesBySeed(events);
    const lossesAt = async (seed: number) => {
      const one: ComparisonEvent[] = [];
      const r = await session.startComparison(params({ seed }), (e) => one.push(e));
      expect(r.seeds).toBeUndefined();
      expect(one.some((e) => e.type === 'seed' || e.type === 'seedDone')).toBe(false);
      return new Map([...lossesBySeed(one).get(0)!].filter(([key]) => key.startsWith(`${lora.id}@`)));
    };
    const onlyLora = (m: Map<string, number> | undefined) => new Map([...(m ?? [])].filter(([key]) => key.startsWith(`${lora.id}@`)));
    const at3 = await lossesAt(3);
    const at4 = await lossesAt(4);
    expect(at3.size).toBe(STEPS + 1);
    expectSame(onlyLora(bySeed.get(0)), at3, 'seed 0');
    expectSame(onlyLora(bySeed.get(1)), at4, 'seed 1');
    // Another seed is another batch order and init: the curves differ.
    expect(at4.get(`${lora.id}@1`)).not.toBe(at3.get(`${lora.id}@1`));
  }, 600_000);

  it("resumes a run stopped in its second seed from that seed's checkpoint, bit for bit, and refuses a checkpoint of another seed", async () => {
    const whole: ComparisonEvent[] = [];
    await (await openSession()).startComparison(params({ seeds: 2 }), (e) => whole.push(e));

    const first = await openSession();
    const part: ComparisonEvent[] = [];
    let inSecond = false;
    const stopped = await first.startComparison(params({ seeds: 2 }), (e) => {
      part.push(e);
      if (e.type === 'seed') inSecond = e.index === 1;
      // Stopped after step 2, recorded before step 1's events (steps overlap).
      if (inSecond && e.type === 'step' && e.point.step === 1) void first.stopComparison();
    });
    expect(stopped.stopped).toBe(true);
    expect(stopped.seeds?.map((s) => [s.index, s.stopped])).toEqual([
      [0, false],
      [1, true],
    ]);
    const checkpoints = part.flatMap((e) => (e.type === 'checkpoint' ? [e.checkpoint] : []));
    expect(checkpoints.map((c) => c.step)).toEqual([2]);
    const saved: StudioCheckpoint = checkpoints[0]!;

    const rest: ComparisonEvent[] = [];
    const resumed = await (await openSession()).startComparison(params({ seeds: 2, resumeFrom: saved }), (e) => rest.push(e));
    expect(resumed.stopped).toBe(false);
    expect(rest.flatMap((e) => (e.type === 'seed' ? [e.index] : []))).toEqual([1]);
    expect(resumed.seeds?.map((s) => [s.index, s.seed, s.methods[0]!.steps])).toEqual([[1, 4, STEPS]]);
    const pieced = new Map([...lossesBySeed(part).get(1)!, ...lossesBySeed(rest).get(1)!]);
    expectSame(pieced, lossesBySeed(whole).get(1), 'seed 1 pieced');

    // The same checkpoint with the run's first seed moved: seed 4 is not one of 5 and 6.
    await expect((await openSession()).startComparison(params({ seed: 5, seeds: 2, resumeFrom: saved }), () => undefined)).rejects.toThrow(
      /taken with seed 4, which is not one of this run's seeds 5 to 6/,
    );
  }, 600_000);
});
