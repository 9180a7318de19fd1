// A studio run of 4-bit methods only (issue 11, item 2), in Node on the built-in model (kjv-llama-1m,
// f32) and math data, QLoRA r 2 on the MLP's up and down projections (8 of its 28), B 1, T 64:
//   - the session loads the model again with deferred projections, and trains to bit for bit the
//     base loss, step and validation losses of the same run on the model as dropped (loaded whole:
//     StudioRun as before, releasing the projections after the init);
//   - the init's pool peak drops by about the targeted projections' bytes, and the memory plan the
//     refusal uses (planRun with deferProjections) is within 15 % of the measured peaks; the base's
//     losses (every W read back) are measured before the inits;
//   - afterwards the base model and the trained method generate, the method exports, and a LoRA run
//     trains on the same model (its projections read back, no reload);
//   - with two seeds, each seed reads the projections again and measures its errors in its init;
//   - a run of QLoRA and LoRA does not defer; a full fine-tuning run over budget is told QLoRA fits when it would,
//     deferred.

import { afterAll, describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { full } from '../adapters/methods/full';
import { qlora } from '../adapters/methods/quantized';
import { selectTargets } from '../adapters/targets';
import { resolveSettings } from '../adapters/types';
import { hasDeferredProjections } from '../models/load';
import { modelPlanSetup, planMethod, planRun } from '../train/memoryPlan';
import { LoadedAdapters } from './studioAdapters';
import { StudioData } from './studioData';
import { releaseTrained, StudioRun } from './studioRun';
import { comparisonMemoryProblem, type LoadedModel } from './studioModel';
import type { ComparisonEvent, ComparisonParams, ComparisonResult } from './protocol';
import { builtinAssets, destroyTestDevices, openBuiltinSession } from './testSession';

afterAll(destroyTestDevices);

const TARGETS = ['up', 'down'];

function params(methods: readonly string[], steps = 2): ComparisonParams {
  return {
    methods: methods.map((id) => ({ id, settings: { rank: 2 } })),
    targets: TARGETS,
    lr: 1e-2,
    schedule: 'constant',
    warmup: 0,
    steps,
    batch: 1,
    seqLen: 64,
    seed: 5,
    evalEvery: steps,
    clipNorm: 0,
    validationRows: 1,
    validationFraction: 0.1,
    accuracyQuestions: 0,
  };
}

/** Every loss a run streamed: "base", "method@step", "method@step/val". */
function lossesOf(events: readonly ComparisonEvent[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) {
    if (e.type === 'base') out.set('base', e.loss);
    if (e.type === 'step') out.set(`${e.method}@${e.point.step}`, e.point.loss);
    if (e.type === 'eval') out.set(`${e.method}@${e.step}/val`, e.loss);
  }
  return out;
}

interface Measured {
  readonly result: ComparisonResult;
  readonly events: readonly ComparisonEvent[];
  /** The pool's peak live bytes before the init (the base's losses), over the init (to 'ready'), and from there on (the steps). */
  readonly basePeak: number;
  readonly initPeak: number;
  readonly stepPeak: number;
}

/** Runs `start` on `loaded`'s device, taking the pool's peak per phase (the phases are told apart by the events). */
async function measured(loaded: LoadedModel, start: (emit: (e: ComparisonEvent) => void) => Promise<ComparisonResult>): Promise<Measured> {
  const tracker = loaded.rt.trackPeak();
  const events: ComparisonEvent[] = [];
  const peaks: number[] = [];
  const result = await start((e) => {
    events.push(e);
    // One method: its init starts with its first progress event and ends with 'ready' (steps overlap: a 'step' comes after two are recorded).
    const phase = e.type === 'init' ? 1 : e.type === 'ready' ? 2 : peaks.length;
    while (peaks.length < phase) {
      peaks.push(tracker.peak);
      tracker.reset();
    }
  });
  peaks.push(tracker.stop());
  const [basePeak, initPeak, stepPeak] = peaks as [number, number, number];
  return { result, events, basePeak, initPeak, stepPeak };
}

describe('studio runs of 4-bit methods only: deferred projections', () => {
  it('QLoRA: the model is loaded again deferred, trains bit for bit as loaded whole, the init peaks lower as planned; afterwards everything works', async () => {
    const session = await openBuiltinSession();
    const whole = session.debugLoaded()!;
    const { rt } = whole;
    expect(hasDeferredProjections(whole.model)).toBe(false);
    const run = params([qlora.id]);
    const projectionBytes = selectTargets(whole.model, TARGETS).reduce((n, name) => n + whole.model.parameter(`${name}.weight`).data.entry.sizeClass, 0);

    // The reference: the same run on the model as dropped, loaded whole (it releases the projections after the init).
    const data = new StudioData();
    await data.loadBuiltin(
      'math',
      (file) => builtinAssets.datasetText('math', file),
      () => undefined,
    );
    const adapters = new LoadedAdapters();
    const inputs = { rt, loaded: whole, data, definitionOf: (id: string) => adapters.definitionOf(id), lossOf: () => Promise.resolve(undefined) };
    let trained: Awaited<ReturnType<StudioRun['execute']>>['trained'];
    const reference = await measured(whole, async (emit) => {
      const outcome = await new StudioRun(inputs, run, emit).execute();
      trained = outcome.trained;
      return outcome.result;
    });
    releaseTrained(trained!);

    const deferred = await measured(whole, (emit) => session.startComparison(run, emit));
    const loaded = session.debugLoaded()!;
    expect(loaded.rt).toBe(rt);
    expect(hasDeferredProjections(loaded.model)).toBe(true);
    const targets = selectTargets(loaded.model, TARGETS);
    expect(loaded.model.releasedProjections()).toEqual(targets);

    expect(deferred.result.methods.map((m) => [m.id, m.steps])).toEqual([[qlora.id, 2]]);
    const expected = lossesOf(reference.events);
    expect([...expected.keys()]).toEqual(['base', `${qlora.id}@1`, `${qlora.id}@2`, `${qlora.id}@2/val`]);
    expect(lossesOf(deferred.events)).toEqual(expected);
    // Every quantization error was measured during the init, while each W was held.
    const measuredErrors = deferred.events.filter((e) => e.type === 'init' && e.progress.phase === 'measure');
    expect(measuredErrors).toHaveLength(targets.length);

    // Pool peaks, whole → deferred (the pool holds nothing else: the swap released the model as dropped).
    const figures = `init ${reference.initPeak} → ${deferred.initPeak}, steps ${reference.stepPeak} → ${deferred.stepPeak}, base ${reference.basePeak} → ${deferred.basePeak}; projections ${projectionBytes}`;
    const setup = modelPlanSetup(loaded.model, targets, { batch: 1, seqLen: 64 }, rt.device.limits);
    const plan = planRun([planMethod(setup, qlora, resolveSettings(qlora, { rank: 2 }))], false, { deferProjections: true });
    console.log(`deferred studio run, pool peaks whole → deferred: ${figures}; planned init ${plan.initBytes}, total ${plan.totalBytes}`);
    expect(reference.initPeak - deferred.initPeak, figures).toBeGreaterThan(projectionBytes / 2);
    expect(Math.abs(plan.initBytes / deferred.initPeak - 1), figures).toBeLessThan(0.15);
    const runPeak = Math.max(deferred.initPeak, deferred.stepPeak);
    // The base's losses hold every W, one block's activations at a time (baseEval.ts): below the run's planned peak here.
    expect(deferred.basePeak, figures).toBeLessThan(plan.totalBytes);
    expect(Math.abs(plan.totalBytes / runPeak - 1), `planned ${plan.totalBytes}, measured ${runPeak}`).toBeLessThan(0.15);

    // Afterwards: the trained method and the base model generate (the base reads its projections back), the method exports.
    const fromMethod = await session.generate({ methodId: qlora.id, prompt: 'The', maxNewTokens: 3 }, () => undefined);
    const fromBase = await session.generate({ prompt: 'The', maxNewTokens: 3 }, () => undefined);
    expect(fromBase.tokens).toBeGreaterThan(0);
    expect(await session.generate({ methodId: qlora.id, prompt: 'The', maxNewTokens: 3 }, () => undefined)).toMatchObject({ text: fromMethod.text });
    const exported = await session.exportMethod({ methodId: qlora.id, format: 'peft' });
    expect(exported.files.map((f) => f.name)).toContain('adapter_model.safetensors');

    // A LoRA run trains on the same model, whose projections are all held again.
    const again = await session.startComparison(params([lora.id]), () => undefined);
    expect(again.methods.map((m) => [m.id, m.steps])).toEqual([[lora.id, 2]]);
    expect(Number.isFinite(again.methods[0]!.finalLoss)).toBe(true);
    expect(session.debugLoaded()!.model.releasedProjections()).toEqual([]);
  }, 300_000);

  it('QLoRA with two seeds: each seed reads the projections for its base loss and init, measures every error in it, and trains', async () => {
    const session = await openBuiltinSession();
    const events: ComparisonEvent[] = [];
    const result = await session.startComparison({ ...params([qlora.id], 1), seeds: 2 }, (e) => events.push(e));
    expect(result.seeds?.map((seed) => seed.methods.map((m) => [m.id, m.steps]))).toEqual([[[qlora.id, 1]], [[qlora.id, 1]]]);
    const loaded = session.debugLoaded()!;
    const targets = selectTargets(loaded.model, TARGETS);
    expect(hasDeferredProjections(loaded.model)).toBe(true);
    expect(loaded.model.releasedProjections()).toEqual(targets);
    expect(events.filter((e) => e.type === 'base')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'init' && e.progress.phase === 'measure')).toHaveLength(2 * targets.length);
  }, 300_000);

  it('QLoRA with LoRA: the model stays loaded whole', async () => {
    const session = await openBuiltinSession();
    const result = await session.startComparison(params([qlora.id, lora.id], 1), () => undefined);
    expect(result.methods.map((m) => [m.id, m.steps])).toEqual([
      [qlora.id, 1],
      [lora.id, 1],
    ]);
    const loaded = session.debugLoaded()!;
    expect(hasDeferredProjections(loaded.model)).toBe(false);
    expect(loaded.model.releasedProjections()).toEqual([]);

    // A full fine-tuning run over budget (its own copy of the model) is told that QLoRA would fit when QLoRA's run would, loaded deferred
    // (and only so) as the studio loads it.
    const targets = selectTargets(loaded.model, ['all']);
    const setup = modelPlanSetup(loaded.model, targets, { batch: 1, seqLen: 64 }, loaded.rt.device.limits);
    const fourBit = [planMethod(setup, qlora, resolveSettings(qlora))];
    const [deferredBytes, wholeBytes] = [true, false].map((deferProjections) => planRun(fourBit, true, { deferProjections }).totalBytes);
    expect(deferredBytes).toBeLessThan(wholeBytes!);
    const budget = Math.round((deferredBytes! + wholeBytes!) / 2);
    const refusal = comparisonMemoryProblem(
      loaded,
      { ...params([]), methods: [{ id: full.id, settings: {} }], targets: ['all'], checkpointing: true, memoryBudgetBytes: budget },
      (id) => new LoadedAdapters().definitionOf(id),
    );
    expect(refusal).toMatch(new RegExp(`^Will not fit: .* These would fit: .*${qlora.id} \\(4-bit base\\) instead of ${full.id}`));
  }, 300_000);
});
