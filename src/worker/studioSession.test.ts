// The studio session in Node on the built-in model (public/models/kjv-llama-1m) and math data,
// with tiny runs (q and v only, B 1, T 64):
//   - commands sent during a run are applied between steps, in arrival order, while it is paused;
//   - a stop queued behind a spectrum comes after it, and a method cannot be added behind a stop;
//   - an out-of-memory error reported by the device's error scope at step k ends the run with every
//     record so far, marked interrupted, and the next run trains on the same device;
//   - a device lost mid-run (device.destroy(), as the page's test hook does) ends the run the same
//     way; the next run gets a new device, reloads the model first (with notices) and trains;
//   - a device lost while paused wakes the waiting loop and ends the run;
//   - a GPU error other than memory replaces the device;
//   - a QLoRA-only run trains on the model loaded with deferred projections (errors measured in the
//     init, while each W is held): the pool holds the targeted weights less while it trains, a LoRA
//     added mid-run reads them back from the files, and the next run trains without a reload.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { qlora } from '../adapters/methods/quantized';
import type { AcquiredDevice } from '../gpu/device';
import { acquireNodeDevice } from '../gpu/node';
import { nodeDirectorySources } from '../io/nodeSource';
import type { StudioAssets } from './assets';
import type { ComparisonEvent, ComparisonParams, EngineEventMessage, EngineNoticeMessage } from './protocol';
import { StudioSession } from './studioSession';

const MODEL = 'kjv-llama-1m';
const DATA = 'math';

const assets: StudioAssets = {
  modelFiles: (name) => nodeDirectorySources(join('public/models', name)),
  datasetText: (name, file) => readFile(join('public/datasets', name, file), 'utf8'),
};

const devices: GPUDevice[] = [];
afterAll(() => {
  for (const d of devices) d.destroy();
});

/**
 * Error-scope faults to inject: the next scope closed (popErrorScope called) reports this error
 * instead of none. Armed and taken synchronously, so which GPU work fails does not depend on when
 * the device answers earlier scopes.
 */
interface Faults {
  next: (() => GPUError) | undefined;
}

/** A real device whose popErrorScope can be made to report an injected error once (the context's own error path then raises it). */
function faultyDevice(acquired: AcquiredDevice, faults: Faults): AcquiredDevice {
  const real = acquired.device;
  const device = new Proxy(real, {
    get(target, key) {
      if (key === 'popErrorScope') {
        return () => {
          const inject = faults.next;
          faults.next = undefined;
          const popped = target.popErrorScope();
          return inject ? popped.then(() => inject()) : popped;
        };
      }
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { ...acquired, device };
}

interface Harness {
  readonly session: StudioSession;
  readonly posted: (EngineEventMessage | EngineNoticeMessage)[];
  readonly faults: Faults;
}

async function openSession(): Promise<Harness> {
  const posted: (EngineEventMessage | EngineNoticeMessage)[] = [];
  const faults: Faults = { next: undefined };
  const session = new StudioSession({
    acquire: async () => {
      const acquired = await acquireNodeDevice({ defaultLimitsOnly: true });
      devices.push(acquired.device);
      return faultyDevice(acquired, faults);
    },
    assets,
    post: (m) => posted.push(m),
  });
  await session.loadBuiltinModel(MODEL, undefined, () => undefined);
  await session.loadBuiltinDataset(DATA, { seqLen: 64, validationFraction: 0.1, seed: 1 });
  return { session, posted, faults };
}

function params(steps: number, methods: readonly string[] = [lora.id]): ComparisonParams {
  return {
    methods: methods.map((id) => ({ id, settings: { rank: 2 } })),
    targets: ['q', 'v'],
    lr: 1e-3,
    schedule: 'constant',
    warmup: 0,
    steps,
    batch: 1,
    seqLen: 64,
    seed: 3,
    evalEvery: 100,
    clipNorm: 0,
    validationRows: 1,
    validationFraction: 0.1,
    accuracyQuestions: 0,
  };
}

/** Steps streamed per method. */
function stepsOf(events: readonly ComparisonEvent[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const e of events) if (e.type === 'step') out.set(e.method, [...(out.get(e.method) ?? []), e.point.step]);
  return out;
}

describe('StudioSession', () => {
  it('applies commands sent during a run between steps, in arrival order, while paused', async () => {
    const { session } = await openSession();
    const events: ComparisonEvent[] = [];
    const answered: string[] = [];
    const note = <T>(name: string, p: Promise<T>) =>
      p.then((value) => {
        answered.push(name);
        return value;
      });
    let asked: Promise<unknown>[] = [];
    const run = session.startComparison(params(5), (e) => {
      events.push(e);
      // Steps overlap (InterleavedRun.stepOverlapped): step k + 1 is already recorded when step k's event comes, so a command sent then applies after step k + 1: paused after step 2.
      if (e.type === 'step' && e.point.step === 1) asked.push(note('pause', session.pauseComparison()));
      if (e.type === 'state' && e.state === 'paused') {
        // Four commands in one go while the loop waits: each is applied, in order, before training goes on.
        asked = [
          ...asked,
          note('spectrum', session.spectrum(lora.id, 'model.layers.0.self_attn.q_proj')),
          note('add', session.addMethod(pissa.id, { rank: 2 })),
          note('pool', session.poolStats()),
          note('resume', session.resumeComparison()),
        ];
      }
    });
    const result = await run;
    const [pause, spectrum, add, pool, resume] = await Promise.all(asked);
    expect(answered).toEqual(['pause', 'spectrum', 'add', 'pool', 'resume']);
    expect([pause, add, resume]).toEqual([true, true, true]);
    expect(spectrum).toMatchObject({ method: lora.id, step: 2 });
    expect(pool).toMatchObject({ step: 2, device: 1 });
    // Between 'paused' and 'running' the loop trained nothing and the added method became ready.
    const types = events.map((e) => (e.type === 'state' ? e.state : e.type === 'added' ? `added@${e.step}` : e.type));
    const paused = types.indexOf('paused');
    const between = types.slice(paused, types.indexOf('running'));
    expect(between).toContain('added@2');
    expect(between).not.toContain('step');
    expect(stepsOf(events).get(lora.id)).toEqual([1, 2, 3, 4, 5]);
    expect(stepsOf(events).get(pissa.id)).toEqual([3, 4, 5]);
    expect(result.stopped).toBe(false);
    expect(result.interrupted).toBeUndefined();
    expect(result.methods.map((m) => [m.id, m.steps, m.startStep])).toEqual([
      [lora.id, 5, 0],
      [pissa.id, 3, 2],
    ]);
  }, 120_000);

  it('applies a stop after the spectrum queued before it, and refuses a method added behind a stop', async () => {
    const { session } = await openSession();
    const answered: string[] = [];
    let spectrum: Promise<unknown> | undefined;
    let stop: Promise<boolean> | undefined;
    let addError: unknown;
    const events: ComparisonEvent[] = [];
    const result = await session.startComparison(params(6), (e) => {
      events.push(e);
      // Sent on step 1's event, applied after step 2 (step 2 was recorded before that event: steps overlap).
      if (e.type !== 'step' || e.point.step !== 1) return;
      spectrum = session.spectrum(lora.id, 'model.layers.1.self_attn.v_proj').then((s) => (answered.push('spectrum'), s));
      stop = session.stopComparison().then((s) => (answered.push('stop'), s));
      session.addMethod(pissa.id, {}).catch((error: unknown) => (addError = error));
    });
    expect(await stop).toBe(true);
    expect(await spectrum).toMatchObject({ step: 2 });
    expect(answered).toEqual(['spectrum', 'stop']);
    expect(String(addError)).toContain('no comparison is running');
    expect(result.stopped).toBe(true);
    expect(result.methods[0]!.steps).toBe(2);
    expect(stepsOf(events).get(lora.id)).toEqual([1, 2]);
    // After the run: a spectrum of its method is served at once; control calls answer false.
    expect(await session.spectrum(lora.id, 'model.layers.1.self_attn.v_proj')).toMatchObject({ step: 2 });
    expect(await session.pauseComparison()).toBe(false);
  }, 120_000);

  it('ends a run whose device reports out of memory at step k with its records so far, then trains again on the same device', async () => {
    const { session, faults } = await openSession();
    const events: ComparisonEvent[] = [];
    // Armed on the second method's step-3 event, when both methods' step 4 is already recorded (steps
    // overlap): the next scope closed is the first method's step 5. Its error joins the context's
    // pending errors, which the next read to collect them raises: a step-4 read still waiting on the
    // GPU (the first method's or the second's), else the first method's step 5. The GPU's pace
    // decides which; the records end at the step before the one that raised it.
    const result = await session.startComparison(params(6, [lora.id, pissa.id]), (e) => {
      events.push(e);
      if (e.type === 'step' && e.point.step === 3 && e.method === pissa.id) faults.next = () => new GPUOutOfMemoryError('injected: allocation failed');
    });
    expect(result.stopped).toBe(true);
    expect(result.interrupted).toMatchObject({ cause: 'outOfMemory', checkpointStep: null });
    expect(result.interrupted!.message).toContain('ran out of memory');
    expect(result.interrupted!.message).toContain('injected: allocation failed');
    // Every streamed step is in the records; nothing after the failure was streamed.
    const streamed = stepsOf(events);
    for (const m of result.methods) expect(streamed.get(m.id) ?? []).toHaveLength(m.steps);
    const [first, second] = result.methods.map((m) => m.steps) as [number, number];
    expect([3, 4]).toContain(first);
    expect([3, first]).toContain(second);
    expect(result.interrupted!.step).toBe(first);
    await expect(session.generate({ methodId: lora.id, prompt: 'The', maxNewTokens: 2 }, () => undefined)).rejects.toThrow('has not been trained');

    const again = await session.startComparison(params(2), () => undefined);
    expect(again.interrupted).toBeUndefined();
    expect(again.methods[0]!.steps).toBe(2);
    expect(session.devicesAcquired).toBe(1);
  }, 120_000);

  it('ends a run whose device is lost mid-run; the next run gets a new device and reloads the model first', async () => {
    const { session, posted } = await openSession();
    const events: ComparisonEvent[] = [];
    // Lost while the second method's step 2 and both methods' step 3 (recorded before step 2's events:
    // steps overlap) are on the GPU: the reads not done by then fail.
    const result = await session.startComparison(params(6, [lora.id, pissa.id]), (e) => {
      events.push(e);
      if (e.type === 'step' && e.point.step === 2 && e.method === lora.id) session.debugLoseDevice();
    });
    expect(result.stopped).toBe(true);
    expect(result.interrupted?.cause).toBe('deviceLost');
    expect(result.interrupted!.message).toContain('the GPU device was lost (destroyed');
    const streamed = stepsOf(events);
    for (const m of result.methods) expect(streamed.get(m.id) ?? []).toHaveLength(m.steps);
    expect(result.methods[0]!.steps).toBe(2);
    expect([1, 2]).toContain(result.methods[1]!.steps);
    expect(result.interrupted!.step).toBe(2);
    expect(posted.filter((m) => m.kind === 'event').map((m) => (m as EngineEventMessage).event)).toEqual(['deviceLost']);

    const again = await session.startComparison(params(2), () => undefined);
    expect(again.interrupted).toBeUndefined();
    expect(again.methods[0]!.steps).toBe(2);
    expect(session.devicesAcquired).toBe(2);
    const notices = posted.filter((m): m is EngineNoticeMessage => m.kind === 'notice').map((m) => m.notice);
    expect(notices[0]!.type).toBe('newDevice');
    expect(notices.some((n) => n.type === 'modelReload' && n.progress !== null && n.progress.done === n.progress.total)).toBe(true);
    expect(notices.at(-1)).toEqual({ type: 'modelReloaded', model: `${MODEL} (built-in)` });
    // The model reloaded once: a later job finds it on the device.
    await session.generate({ prompt: 'The', maxNewTokens: 2 }, () => undefined);
    expect(notices.filter((n) => n.type === 'modelReloaded')).toHaveLength(1);
  }, 120_000);

  it('defers the base in a QLoRA-only run, reads it back for a method added mid-run, and trains the next run without a reload', async () => {
    const { session, posted } = await openSession();
    const loadedBytes = (await session.poolStats())!.liveBytes;
    const [planned] = session.estimate({ methods: [{ id: qlora.id, settings: { rank: 2 } }], targets: ['q', 'v'], batch: 1, seqLen: 64 });
    expect(planned!.releasableBaseBytes).toBeGreaterThan(0);
    const events: ComparisonEvent[] = [];
    let whilePaused: Promise<[number, unknown]> | undefined;
    const result = await session.startComparison(params(3, [qlora.id]), (e) => {
      events.push(e);
      if (e.type === 'step' && e.point.step === 1) void session.pauseComparison();
      if (e.type === 'state' && e.state === 'paused') {
        whilePaused = Promise.all([
          session.poolStats().then((p) => p!.liveBytes),
          session.addMethod(lora.id, { rank: 2 }).then(
            () => 'added',
            (error: unknown) => error,
          ),
        ]);
        void whilePaused.then(() => session.resumeComparison());
      }
    });
    const [trainingBytes, added] = await whilePaused!;
    const ready = events.find((e) => e.type === 'ready');
    // The pool holds the loaded model less its released projections, plus QLoRA's NF4 bases, adapter and AdamW state
    // (and a few KiB of the run's own: its token batches).
    const expected = loadedBytes - planned!.releasableBaseBytes + (ready?.type === 'ready' ? ready.bytes : Number.NaN);
    expect(planned!.releasableBaseBytes).toBeGreaterThan(128 * 1024);
    expect(Math.abs(trainingBytes - expected), `held ${trainingBytes}, expected ${expected}`).toBeLessThan(16 * 1024);
    expect(added).toBe('added');
    // Every quantization error was measured (before the release), ahead of the first step.
    const firstStep = events.findIndex((e) => e.type === 'step');
    const measured = events.filter((e, i) => e.type === 'init' && e.progress.phase === 'measure' && i < firstStep);
    const targets = events.find((e) => e.type === 'targets');
    expect(measured).toHaveLength(targets?.type === 'targets' ? targets.layers.length : Number.NaN);
    expect(result.methods.map((m) => [m.id, m.steps])).toEqual([
      [qlora.id, 3],
      [lora.id, 1],
    ]);

    const again = await session.startComparison(params(2, [lora.id]), () => undefined);
    expect(again.interrupted).toBeUndefined();
    expect(again.methods.map((m) => [m.id, m.steps])).toEqual([[lora.id, 2]]);
    expect(again.methods[0]!.finalLoss).toBeGreaterThan(0);
    // On the same model (its projections read back), without a reload or its notices; QLoRA's adapters are gone.
    expect(session.devicesAcquired).toBe(1);
    expect(posted.filter((m) => m.kind === 'notice' && m.notice.type.startsWith('modelReload'))).toEqual([]);
    const [loraPlan] = session.estimate({ methods: [{ id: lora.id, settings: { rank: 2 } }], targets: ['q', 'v'], batch: 1, seqLen: 64 });
    expect((await session.poolStats())!.liveBytes).toBeLessThan(loadedBytes + loraPlan!.trainableBytes + planned!.ownBaseBytes);
  }, 120_000);

  it('wakes a paused run when its device is lost, and replaces the device after another GPU error', async () => {
    const { session, faults } = await openSession();
    const result = await session.startComparison(params(6), (e) => {
      if (e.type === 'step' && e.point.step === 1) void session.pauseComparison();
      if (e.type === 'state' && e.state === 'paused') session.debugLoseDevice();
    });
    // Paused after step 2: it was recorded before step 1's event (steps overlap).
    expect(result.interrupted).toMatchObject({ cause: 'deviceLost', step: 2 });

    const failed = await session.startComparison(params(4), (e) => {
      if (e.type === 'step' && e.point.step === 1) faults.next = () => new GPUInternalError('injected: internal failure');
    });
    expect(failed.interrupted?.cause).toBe('gpuError');
    expect(failed.interrupted!.message).toContain('injected: internal failure');
    expect(session.devicesAcquired).toBe(2);
    const again = await session.startComparison(params(1), () => undefined);
    expect(again.methods[0]!.steps).toBe(1);
    expect(session.devicesAcquired).toBe(3);
  }, 120_000);
});
