// Releasing the shared base a 4-bit comparison no longer reads (train/baseRelease.ts, issue 11
// item 2) on the bf16 tiny-qwen2 fixture: the last init of QLoRA, QPiSSA and LoftQ frees each
// projection's 16-bit W as it goes (BaseReleaser), after which the pool holds none of them (only
// the embedding, norms, biases, the NF4 bases, the adapters and AdamW state); the quantization
// errors, measured before W went, and the training losses are bit for bit those of the same run
// that kept them; a run with LoRA releases nothing; whatever needs W afterwards is told to reload
// the model; the init's peak drops and the plan follows it.

import { describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { loftq, qlora, qpissa } from '../adapters/methods/quantized';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type MethodDefinition } from '../adapters/types';
import type { CausalLM } from '../models/causalLM';
import { releaseModel } from '../models/load';
import { Graph } from '../tensor/graph';
import { tokenIds, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { BaseReleaser, checkBaseHeld, releaseUnusedBase } from './baseRelease';
import { modelPlanSetup, planMethod, planRun } from './memoryPlan';
import { startMethod, type StartedMethod } from './methodRun';
import { modelFiles, testBatch } from './testing';

const FIXTURE = 'tiny-qwen2';
const PROJECTION_WEIGHT = /_proj\.weight/;

/** Starts `methods` in order; with `releaser`, the last init frees each layer's W as it goes (BaseReleaser.hookFor). */
async function startAll(rt: Runtime, model: CausalLM, methods: readonly MethodDefinition[], releaser?: BaseReleaser): Promise<StartedMethod[]> {
  const started: StartedMethod[] = [];
  for (const [i, method] of methods.entries()) {
    const settings: Record<string, number> = method.settings.some((s) => s.key === 'iterations') ? { rank: 4, iterations: 2 } : { rank: 4 };
    const onLayerReady = i === methods.length - 1 ? releaser?.hookFor(started.map((m) => m.adapted)) : undefined;
    started.push(
      await startMethod(
        rt,
        { model, targets: selectTargets(model, ['all']), seed: 7, onLayerReady },
        { id: method.id, settings, learningRate: 1e-2, clipNorm: 1 },
        { kind: 'constant', warmupSteps: 0, totalSteps: 3 },
      ),
    );
  }
  return started;
}

/** Three interleaved steps on the test batch: every method's losses, in order. */
async function train(started: readonly StartedMethod[], model: CausalLM): Promise<number[][]> {
  const batch = testBatch(model);
  const losses: number[][] = started.map(() => []);
  for (let step = 0; step < 3; step++) {
    for (const [i, m] of started.entries()) losses[i]!.push((await m.trainer.step(batch)).loss);
  }
  return losses;
}

describe('releasing the shared base no method reads', () => {
  it('QLoRA, QPiSSA, LoftQ: W freed layer by layer in the last init, the same errors and losses, then refusals to reload', async () => {
    const rt = await testContext();
    const methods = [qlora, qpissa, loftq];
    const kept = await modelFiles(rt, FIXTURE);
    const model = await modelFiles(rt, FIXTURE);
    const targets = selectTargets(model, ['all']);
    const weightBytes = targets.reduce((n, name) => n + model.parameter(`${name}.weight`).data.entry.sizeClass, 0);
    const reference = await startAll(rt, kept, methods);
    const releaser = new BaseReleaser(rt, model);
    const started = await startAll(rt, model, methods, releaser);
    try {
      // LoftQ's init released every projection as it went, QLoRA's and QPiSSA's errors measured first.
      expect(model.releasedProjections()).toEqual(targets);
      const release = await releaser.finish(started.map((m) => m.adapted));
      expect(release.released).toEqual(targets);
      expect(release.bytes).toBe(weightBytes);
      expect(kept.releasedProjections()).toEqual([]);
      // Only the copy the reference run kept is left; the released model holds its embedding, norms and method tensors.
      const live = rt.pool.liveBuffers();
      expect(live.filter((b) => PROJECTION_WEIGHT.test(b.what)).length).toBe(targets.length);
      expect(live.some((b) => b.what.startsWith('model.embed_tokens.weight'))).toBe(true);
      // The errors were measured before W went, so asking now reads nothing released; they are the ones measured with W kept.
      for (const [i, m] of started.entries()) {
        const report = await m.adapted.measureQuantErrors!(rt);
        expect(report.pending).toBe(0);
        expect(report.layers.map((l) => l.layer)).toEqual(targets);
        expect(report.layers).toEqual((await reference[i]!.adapted.measureQuantErrors!(rt)).layers);
      }

      expect(await train(started, model)).toEqual(await train(reference, kept));

      const g = new Graph(rt, false);
      try {
        expect(() => model.forward(g, tokenIds(g, [1, 2, 3], [1, 3]))).toThrow(/were released after the 4-bit methods' init.*Reload the model/);
      } finally {
        g.destroy();
      }
      expect(() => checkBaseHeld(model, targets)).toThrow(/Reload the model/);
      expect(() => checkBaseHeld(kept, targets)).not.toThrow();
    } finally {
      for (const m of [...started, ...reference]) m.release();
      releaseModel(rt, model);
      releaseModel(rt, kept);
    }
  });

  it('a run with LoRA keeps every projection; a 4-bit run that gives up its errors cannot measure them later', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, FIXTURE);
    const mixed = await startAll(rt, model, [lora, qlora]);
    try {
      expect(
        await releaseUnusedBase(
          rt,
          model,
          mixed.map((m) => m.adapted),
        ),
      ).toEqual({ released: [], bytes: 0, weightBytes: 0 });
      expect(model.releasedProjections()).toEqual([]);
    } finally {
      for (const m of mixed) m.release();
    }
    const alone = await startAll(rt, model, [qlora]);
    try {
      const release = await releaseUnusedBase(rt, model, [alone[0]!.adapted], { measureQuantErrors: false });
      expect(release.released.length).toBeGreaterThan(0);
      await expect(alone[0]!.adapted.measureQuantErrors!(rt)).rejects.toThrow(/were released.*Reload the model/);
      expect(rt.pool.liveBuffers().filter((b) => b.what.startsWith('quantization errors'))).toEqual([]);
      expect(Number.isFinite((await alone[0]!.trainer.step(testBatch(model))).loss)).toBe(true);
    } finally {
      for (const m of alone) m.release();
      releaseModel(rt, model);
    }
  });

  it('the memory plan says it: the released bytes exactly, steps without them, the init within 15 % of its measured peak', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, FIXTURE);
    const targets = selectTargets(model, ['all']);
    const setup = modelPlanSetup(model, targets, { batch: 2, seqLen: 16 }, { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 });
    const methodPlan = planMethod(setup, qlora, resolveSettings(qlora, { rank: 4 }));
    const plan = planRun([methodPlan], false);
    const kept = planRun([methodPlan], false, { releaseBase: false });
    const mixed = planRun([methodPlan, planMethod(setup, lora, resolveSettings(lora, { rank: 4 }))], false);
    expect(kept.releasedBaseBytes).toBe(0);
    expect(mixed.releasedBaseBytes).toBe(0);
    expect(plan.whileStepping[0]).toBe(kept.whileStepping[0]! - plan.releasedBaseBytes);
    // Released layer by layer, the last init's own tensors never sit beside the whole base.
    const ownHeld = methodPlan.ownBaseBytes + methodPlan.trainableBytes - methodPlan.gradientBytes;
    expect(plan.initBytes).toBe(Math.max(kept.initBytes - ownHeld, methodPlan.sharedBaseBytes - plan.releasedBaseBytes + ownHeld));
    expect(plan.totalBytes).toBe(Math.max(plan.initBytes, plan.whileStepping[0]!));
    /** The pool's peak over the init (above what earlier tests left live), the release the run made; the model freed afterwards. */
    const measureInit = async (perLayer: boolean): Promise<{ peak: number; released: number }> => {
      await rt.sync();
      const leftOver = rt.stats().liveBytes;
      const model = await modelFiles(rt, FIXTURE);
      const releaser = new BaseReleaser(rt, model, { measureQuantErrors: false });
      await rt.sync();
      const init = rt.trackPeak();
      const started = await startAll(rt, model, [qlora], perLayer ? releaser : undefined);
      try {
        const peak = init.stop() - leftOver;
        return { peak, released: (await releaser.finish([started[0]!.adapted])).bytes };
      } finally {
        for (const m of started) m.release();
        releaseModel(rt, model);
      }
    };
    releaseModel(rt, model);
    const after = await measureInit(false);
    const during = await measureInit(true);
    expect(after.released).toBe(plan.releasedBaseBytes);
    expect(during.released).toBe(plan.releasedBaseBytes);
    expect(during.peak).toBeLessThan(after.peak);
    expect(Math.abs(kept.initBytes / after.peak - 1), `init, released after it: planned ${kept.initBytes}, measured ${after.peak}`).toBeLessThan(0.15);
    expect(Math.abs(plan.initBytes / during.peak - 1), `init, released during it: planned ${plan.initBytes}, measured ${during.peak}`).toBeLessThan(0.15);
  });
});
