// Quantizing while loading (issue 11, item 2): a model loaded with deferred projections
// (models/load.ts deferProjections) holds no block projection's W; each 4-bit init reads a layer's
// W from the checkpoint, quantizes it and lets it go. On bf16 models: QLoRA and QPiSSA (two
// methods, each re-reading every layer) give bit for bit the NF4 bases, adapters and losses of the
// same run on a model loaded whole; the init's pool peak is lower by about the projections' bytes
// and the memory plan follows it; a run with LoRA does not defer, and a LoRA init on a deferred
// model keeps the W it read.

import { describe, expect, it } from 'vitest';
import { LowRankLayer } from '../adapters/forms/lowRank';
import { Nf4Base } from '../adapters/forms/nf4Base';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { loftq, qlora, qpissa } from '../adapters/methods/quantized';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type MethodDefinition } from '../adapters/types';
import { tinyConfigJson, tinyModelFolder } from '../io/testModels';
import { openModelFiles } from '../io/modelFiles';
import type { CausalLM } from '../models/causalLM';
import { holdUntargeted, loadCausalLM, releaseModel } from '../models/load';
import { Graph } from '../tensor/graph';
import { readTensor, tokenIds, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { InternalError } from '../errors';
import { BaseReleaser, defersProjections } from './baseRelease';
import { modelPlanSetup, planMethod, planRun } from './memoryPlan';
import { startMethod, type StartedMethod } from './methodRun';
import { modelFiles, testBatch } from './testing';

const FIXTURE = 'tiny-qwen2';
const PROJECTION_WEIGHT = /_proj\.weight/;

/** Starts `methods` in order on every projection; the last init frees each layer's W as it goes (BaseReleaser.hookFor). */
async function startAll(rt: Runtime, model: CausalLM, methods: readonly MethodDefinition[]): Promise<StartedMethod[]> {
  const releaser = new BaseReleaser(rt, model, { measureQuantErrors: false });
  const started: StartedMethod[] = [];
  for (const [i, method] of methods.entries()) {
    const onLayerReady = i === methods.length - 1 ? releaser.hookFor(started.map((m) => m.adapted)) : undefined;
    started.push(
      await startMethod(
        rt,
        { model, targets: selectTargets(model, ['all']), seed: 7, onLayerReady },
        { id: method.id, settings: { rank: 4 }, learningRate: 1e-2, clipNorm: 1 },
        { kind: 'constant', warmupSteps: 0, totalSteps: 1 },
      ),
    );
  }
  await releaser.finish(started.map((m) => m.adapted));
  return started;
}

/** Every byte a method's init made, layer by layer: the NF4 codes and block constants, and the adapter's tensors. */
async function initBytes(rt: Runtime, started: StartedMethod): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const layer of started.adapted.linears.values()) {
    if (!(layer instanceof LowRankLayer) || !(layer.base instanceof Nf4Base)) throw new InternalError(`${layer.name} is not over an NF4 base`);
    const { packed, absmax } = layer.base.weight;
    const constants = absmax.kind === 'f32' ? [absmax.values] : [absmax.codes8, absmax.scales, absmax.mean];
    for (const t of [packed, ...constants]) out.push(new Uint8Array(await rt.readBytes(t)));
    for (const t of layer.tensors) out.push(new Uint8Array((await readTensor(rt, t)).buffer));
  }
  return out;
}

/** A bf16 Llama of hidden size 128, whose projections outweigh everything else the init holds. */
async function wideModel(rt: Runtime, deferProjections: boolean): Promise<CausalLM> {
  const config = { ...tinyConfigJson('llama'), hidden_size: 128, intermediate_size: 320, num_hidden_layers: 2 };
  return loadCausalLM(rt, await openModelFiles(tinyModelFolder(config, { dtype: 'BF16' })), { deferProjections });
}

type TestContext = Awaited<ReturnType<typeof testContext>>;

interface BothLoads {
  readonly model: CausalLM;
  readonly started: readonly StartedMethod[];
  readonly reference: readonly StartedMethod[];
}

/**
 * Starts `methods` on `fixture` loaded whole and loaded deferred (`prepare` first, on the deferred
 * model), checks that one step of each gives the same loss on both and what `check` says, then
 * releases everything.
 */
async function onBothLoads(
  fixture: string,
  methods: readonly MethodDefinition[],
  check: (rt: TestContext, runs: BothLoads) => Promise<void>,
  prepare?: (rt: Runtime, model: CausalLM) => Promise<void>,
): Promise<void> {
  const rt = await testContext();
  const whole = await modelFiles(rt, fixture);
  const model = await modelFiles(rt, fixture, { deferProjections: true });
  await prepare?.(rt, model);
  const reference = await startAll(rt, whole, methods);
  const started = await startAll(rt, model, methods);
  try {
    await check(rt, { model, started, reference });
    const batch = testBatch(model);
    for (const [i, m] of started.entries()) expect((await m.trainer.step(batch)).loss).toBe((await reference[i]!.trainer.step(batch)).loss);
  } finally {
    for (const m of [...started, ...reference]) m.release();
    releaseModel(rt, model);
    releaseModel(rt, whole);
  }
}

/** Whether every method's NF4 bases and adapters are bit for bit the reference run's. */
async function sameInits(rt: Runtime, { started, reference }: BothLoads): Promise<void> {
  for (const [i, m] of started.entries()) expect(await initBytes(rt, m)).toEqual(await initBytes(rt, reference[i]!));
}

describe('quantizing while loading: deferred projections', () => {
  it('QLoRA then QPiSSA: the same NF4 bases, adapters and losses as on the model loaded whole; no projection held after', async () => {
    const methods = [qlora, qpissa];
    expect(defersProjections(methods)).toBe(true);
    await onBothLoads(FIXTURE, methods, async (rt, runs) => {
      const { model } = runs;
      // Loaded, the deferred model had none; each init read and let go of every layer's W (two reads a layer).
      expect(model.releasedProjections()).toEqual(selectTargets(model, ['all']));
      expect(rt.pool.liveBuffers().filter((b) => PROJECTION_WEIGHT.test(b.what)).length).toBe(0);
      await sameInits(rt, runs);
      const g = new Graph(rt, false);
      try {
        expect(() => model.forward(g, tokenIds(g, [1, 2, 3], [1, 3]))).toThrow(/not held: the model was loaded for 4-bit methods only.*reload the model/);
      } finally {
        g.destroy();
      }
    });
  });

  it('GPT-2: its Conv1D weights, read on demand, are transposed as at load: the same NF4 bases, adapters and loss', async () => {
    await onBothLoads('tiny-gpt2', [qlora], sameInits);
  });

  it('untargeted projections are held for the forward pass; a LoRA init on a deferred model keeps the W it read', async () => {
    expect(defersProjections([lora, qlora])).toBe(false);
    expect(defersProjections([pissa])).toBe(false);
    expect(defersProjections([loftq])).toBe(true);
    await onBothLoads(
      FIXTURE,
      [lora],
      async (_rt, { model }) => expect(model.releasedProjections()).toEqual([]),
      async (rt, model) => {
        const qv = selectTargets(model, ['q', 'v']);
        await holdUntargeted(rt, model, qv);
        expect(model.releasedProjections()).toEqual(qv);
      },
    );
  });

  it("the init's pool peak drops by about the projections' bytes, and the plan says so within 15 %", async () => {
    const rt = await testContext();
    /** The pool's peak from the load through QLoRA's init (above what was live before), and what the loaded model held. */
    const measure = async (deferred: boolean) => {
      await rt.sync();
      const leftOver = rt.stats().liveBytes;
      const peak = rt.trackPeak();
      const model = await wideModel(rt, deferred);
      await rt.sync();
      const loaded = rt.stats().liveBytes - leftOver;
      const started = await startAll(rt, model, [qlora]);
      try {
        await rt.sync();
        return { model, peak: peak.stop() - leftOver, loaded, initialised: rt.stats().liveBytes - leftOver };
      } finally {
        for (const m of started) m.release();
        releaseModel(rt, model);
      }
    };
    const whole = await measure(false);
    const deferred = await measure(true);
    const targets = selectTargets(whole.model, ['all']);
    const projectionBytes = targets.reduce((n, name) => n + whole.model.parameter(`${name}.weight`).data.entry.sizeClass, 0);
    expect(whole.loaded - deferred.loaded).toBe(projectionBytes);
    // Loaded whole, the init starts with every projection; deferred, it ends with the NF4 copies, adapters and AdamW
    // state (in both) and one layer's W: the peak drops by the projections less what the init adds, and below the whole model as loaded.
    const added = deferred.initialised - deferred.loaded;
    const layerBytes = Math.max(...targets.map((name) => whole.model.parameter(`${name}.weight`).data.entry.sizeClass));
    const saved = whole.peak - deferred.peak;
    const figures = `peak ${whole.peak} → ${deferred.peak}; projections ${projectionBytes}, init adds ${added}, one layer ${layerBytes}`;
    expect(saved, figures).toBeGreaterThanOrEqual(projectionBytes - added - layerBytes);
    expect(saved, figures).toBeLessThanOrEqual(projectionBytes);
    expect(deferred.peak, figures).toBeLessThan(whole.loaded);

    const model = whole.model;
    const setup = modelPlanSetup(model, targets, { batch: 2, seqLen: 16 }, { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 });
    const methodPlan = planMethod(setup, qlora, resolveSettings(qlora, { rank: 4 }));
    const plan = planRun([methodPlan], false, { deferProjections: true });
    const loadedWhole = planRun([methodPlan], false);
    expect(plan.whileStepping).toEqual(loadedWhole.whileStepping);
    expect(plan.initBytes).toBeLessThan(loadedWhole.initBytes);
    expect(Math.abs(plan.initBytes / deferred.peak - 1), `deferred init: planned ${plan.initBytes}, measured ${deferred.peak}`).toBeLessThan(0.15);
    // With LoRA in the run nothing is deferred: the option changes nothing.
    const mixed = [methodPlan, planMethod(setup, lora, resolveSettings(lora, { rank: 4 }))];
    expect(planRun(mixed, false, { deferProjections: true })).toEqual(planRun(mixed, false));
  });
});
