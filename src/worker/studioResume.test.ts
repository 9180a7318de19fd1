// Checkpoints and resume of a studio run in Node, on the built-in model (kjv-llama-1m) and math
// data with tiny runs (LoRA and PiSSA on q and v, B 1, T 64): a run paused at step 2 (a
// checkpoint), resumed in a new session and stopped at step 3 (a checkpoint), then resumed again
// in another session to the end, gives bit-identical losses to a run never interrupted; so does a
// run whose device is lost (device.destroy()) resumed on the next device from the checkpoint the
// interruption names. A NaN injected into a resumed checkpoint halts that method alone, naming the
// step, layer and tensor (train/health.ts). A resume with other settings is refused, naming the difference.

import { afterAll, describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { concatBytes } from '../io/byteSource';
import { encodeCheckpoint } from '../io/checkpointFile';
import { destroyTestDevices, openBuiltinSession as openSession } from './testSession';
import type { ComparisonEvent, ComparisonParams, StudioCheckpoint } from './protocol';
import { readStudioCheckpoint } from './studioCheckpoint';

afterAll(destroyTestDevices);

const STEPS = 6;

function params(extra: Partial<ComparisonParams> = {}): ComparisonParams {
  return {
    methods: [lora.id, pissa.id].map((id) => ({ id, settings: { rank: 2 } })),
    targets: ['q', 'v'],
    lr: 1e-2,
    schedule: 'cosine',
    warmup: 1,
    steps: STEPS,
    batch: 1,
    seqLen: 64,
    seed: 3,
    evalEvery: 2,
    clipNorm: 1,
    validationRows: 1,
    validationFraction: 0.1,
    accuracyQuestions: 0,
    ...extra,
  };
}

/** "method@step" → loss (and validation losses as "method@step/val"). */
function lossesOf(events: readonly ComparisonEvent[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) {
    if (e.type === 'step') out.set(`${e.method}@${e.point.step}`, e.point.loss);
    if (e.type === 'eval') out.set(`${e.method}@${e.step}/val`, e.loss);
  }
  return out;
}

function checkpointsOf(events: readonly ComparisonEvent[]): StudioCheckpoint[] {
  return events.flatMap((e) => (e.type === 'checkpoint' ? [e.checkpoint] : []));
}

describe('studio checkpoints and resume', () => {
  it('continues bit for bit after a pause and a stop, each resumed in a new session', async () => {
    const whole: ComparisonEvent[] = [];
    const reference = await (await openSession()).startComparison(params(), (e) => whole.push(e));
    expect(reference.stopped).toBe(false);
    // A finished run's only checkpoint is its last step's: its trained weights, for generation and export after a reload.
    expect(checkpointsOf(whole).map((c) => c.step)).toEqual([STEPS]);

    // 1: paused after step 2 (a checkpoint is taken on pausing), then stopped while paused.
    const first = await openSession();
    const part1: ComparisonEvent[] = [];
    const result1 = await first.startComparison(params(), (e) => {
      part1.push(e);
      if (e.type === 'step' && e.point.step === 2 && e.method === pissa.id) void first.pauseComparison();
      if (e.type === 'state' && e.state === 'paused') void first.stopComparison();
    });
    expect(result1.stopped).toBe(true);
    const saved1 = checkpointsOf(part1);
    expect(saved1.map((c) => c.step)).toEqual([2]);

    // 2: resumed in a new session with a checkpoint every 2 steps, asked to stop on step 3's event:
    // step 4 was recorded by then (steps overlap), so it stops after step 4 (a checkpoint).
    const second = await openSession();
    const part2: ComparisonEvent[] = [];
    const result2 = await second.startComparison(params({ resumeFrom: saved1[0], checkpointEvery: 2 }), (e) => {
      part2.push(e);
      if (e.type === 'step' && e.point.step === 3 && e.method === pissa.id) void second.stopComparison();
    });
    expect(result2.stopped).toBe(true);
    expect(result2.methods.map((m) => m.steps)).toEqual([4, 4]);
    const saved2 = checkpointsOf(part2);
    expect(saved2.map((c) => c.step)).toEqual([4]);

    // 3: resumed again to the end: its only checkpoint is the final one.
    const part3: ComparisonEvent[] = [];
    const result3 = await (await openSession()).startComparison(params({ resumeFrom: saved2[0], checkpointEvery: 2 }), (e) => part3.push(e));
    expect(result3.stopped).toBe(false);
    expect(result3.methods.map((m) => [m.id, m.steps])).toEqual([
      [lora.id, STEPS],
      [pissa.id, STEPS],
    ]);
    expect(checkpointsOf(part3).map((c) => c.step)).toEqual([STEPS]);

    const steps = (events: readonly ComparisonEvent[]) => [...new Set(events.flatMap((e) => (e.type === 'step' ? [e.point.step] : [])))];
    expect(steps(part1)).toEqual([1, 2]);
    expect(steps(part2)).toEqual([3, 4]);
    expect(steps(part3)).toEqual([5, 6]);
    const pieced = new Map([...lossesOf(part1), ...lossesOf(part2), ...lossesOf(part3)]);
    const expected = lossesOf(whole);
    expect(expected.size).toBe(2 * STEPS + 2 * (STEPS / 2));
    // Bit for bit: Object.is on every loss, validation losses included.
    for (const [key, loss] of expected) expect(Object.is(pieced.get(key), loss), `${key}: ${pieced.get(key)} vs ${loss}`).toBe(true);
    expect(pieced.size).toBe(expected.size);
    expect(result3.methods.map((m) => m.finalLoss)).toEqual(reference.methods.map((m) => m.finalLoss));

    // A device lost after step 3 of a run checkpointed every 2 steps: the interruption names the
    // checkpoint of step 2, and resuming from it in the same session (on a new device) continues bit for bit.
    const lossy = await openSession();
    const part4: ComparisonEvent[] = [];
    const result4 = await lossy.startComparison(params({ checkpointEvery: 2 }), (e) => {
      part4.push(e);
      if (e.type === 'step' && e.point.step === 3 && e.method === pissa.id) lossy.debugLoseDevice();
    });
    expect(result4.interrupted?.cause).toBe('deviceLost');
    expect(result4.interrupted?.checkpointStep).toBe(2);
    expect(result4.interrupted?.message).toContain('Or resume from the last checkpoint (step 2).');
    expect(lossy.lastInterruption?.interruption.checkpointStep).toBe(2);
    const saved4 = checkpointsOf(part4);
    expect(saved4.map((c) => c.step)).toEqual([2]);
    const part5: ComparisonEvent[] = [];
    const result5 = await lossy.startComparison(params({ resumeFrom: saved4[0] }), (e) => part5.push(e));
    expect(lossy.devicesAcquired).toBe(2);
    expect(result5.stopped).toBe(false);
    expect(steps(part5)).toEqual([3, 4, 5, 6]);
    for (const [key, loss] of lossesOf(part5)) expect(Object.is(expected.get(key), loss), `${key} after the device loss`).toBe(true);
  }, 600_000);

  it('halts a method alone, naming the step, layer and tensor, when a NaN is injected into its checkpointed weights', async () => {
    const session = await openSession();
    const events: ComparisonEvent[] = [];
    await session.startComparison(params({ steps: 4 }), (e) => {
      events.push(e);
      if (e.type === 'step' && e.point.step === 2 && e.method === pissa.id) void session.stopComparison();
    });
    const [saved] = checkpointsOf(events);
    expect(saved?.step).toBe(2);
    // Re-encoded with one LoRA weight set to NaN (the checkpoint's own fingerprint then matches).
    const read = await readStudioCheckpoint(saved!);
    const tensors = new Map([...read.tensors].map(([k, v]) => [k, v.slice()]));
    const key = [...tensors.keys()].find((k) => k.startsWith('method0/') && k.includes('lora_A') && k.endsWith(':value'))!;
    tensors.get(key)![3] = Number.NaN;
    const { format: _format, version: _version, tensorsFingerprint: _fingerprint, ...draft } = read.manifest;
    const encoded = encodeCheckpoint(draft, tensors);
    const poisoned = { step: 2, manifest: encoded.manifest, tensors: concatBytes(encoded.tensors) };

    const after: ComparisonEvent[] = [];
    const result = await session.startComparison(params({ steps: 4, resumeFrom: poisoned }), (e) => after.push(e));
    const halts = after.flatMap((e) => (e.type === 'halted' ? [e] : []));
    expect(halts.map((h) => [h.method, h.step])).toEqual([[lora.id, 3]]);
    const layer = key.slice('method0/'.length).split('.lora_A')[0]!;
    expect(halts[0]!.reason).toContain('stopped at step 3: ');
    expect(halts[0]!.reason).toContain(layer);
    expect(halts[0]!.reason).toMatch(/lora_A.* holds NaN/);
    const [loraRecord, pissaRecord] = result.methods;
    expect(loraRecord!.halted).toBe(halts[0]!.reason);
    expect(pissaRecord!.halted).toBeUndefined();
    expect(pissaRecord!.steps).toBe(4);
    expect(Number.isFinite(pissaRecord!.finalLoss)).toBe(true);
  }, 300_000);

  it('refuses to resume with other settings, naming the difference', async () => {
    const session = await openSession();
    const events: ComparisonEvent[] = [];
    await session.startComparison(params({ steps: 2, checkpointEvery: 1 }), (e) => events.push(e));
    const saved = checkpointsOf(events);
    expect(saved.map((c) => c.step)).toEqual([1, 2]);
    await expect(session.startComparison(params({ steps: 2, lr: 2e-2, resumeFrom: saved[0] }), () => undefined)).rejects.toThrow(
      /lr is 0\.01 in the checkpoint, 0\.02 now/,
    );
  }, 300_000);
});
