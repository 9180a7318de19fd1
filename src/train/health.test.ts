// Training health (health.ts) with injected faults, on interleaved runs of LoRA and PiSSA on the
// tiny Llama: a NaN written into one LoRA weight, an infinite weight in PiSSA's frozen residual
// (a forward activation), and LoRA factors scaled so that every gradient is finite but their
// squared norm overflows (a gradient). Each time the faulty method stops alone at the right step,
// naming the layer and the tensor, and the other one trains on with the very losses (bit for bit)
// it has in a run without the fault. A learning rate far too high is flagged as diverging without
// stopping (full fine-tuning at lr 1), while runComparison names where a learning rate of 1e30
// broke PiSSA; the divergence rule is also checked on loss series given directly.

import { describe, expect, it } from 'vitest';
import { LowRankLayer } from '../adapters/forms/lowRank';
import { ResidualBase } from '../adapters/forms/residualBase';
import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { selectTargets } from '../adapters/targets';
import type { MethodDefinition } from '../adapters/types';
import { createBatcher, type Batcher } from '../io/datasets';
import type { CausalLM } from '../models/causalLM';
import { releaseModel } from '../models/load';
import type { Tensor } from '../tensor/tensor';
import { readTensor, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { InterleavedRun, runComparison, type MethodReport, type RunningMethod } from './compare';
import { DIVERGENCE_RULE, DivergenceMonitor } from './health';
import { modelFiles, smallSettings } from './testing';

const STEPS = 5;
const FAULT_BEFORE = 2; // the fault is injected before step index 2: the third update fails

function batcherFor(model: CausalLM, seed = 2): Batcher {
  const V = model.config.vocabSize;
  const rows = Array.from({ length: 9 }, (_, r) => {
    const ids = Array.from({ length: 6 + (r % 3) }, (_, t) => (r * 31 + t * 17 + ((t * t) % 5)) % V);
    return { ids, lossMask: ids.map((_, t) => t > 0) };
  });
  return createBatcher(rows, { batchSize: 2, seqLen: 8, seed });
}

type Fault = (rt: Runtime, methods: readonly RunningMethod<MethodDefinition>[]) => Promise<void>;

const bits = (x: number): number => new Uint32Array(Float32Array.of(x).buffer)[0]!;

/** The first adapted layer of a method (q_proj of block 0). */
function firstLayer(method: RunningMethod<MethodDefinition>): LowRankLayer {
  const layer = [...method.adapted.linears.values()][0];
  if (!(layer instanceof LowRankLayer)) throw new Error(`${method.id}: not a low-rank layer`);
  return layer;
}

async function runWith(rt: Runtime, model: CausalLM, fault?: Fault): Promise<{ losses: Map<string, number[]>; methods: RunningMethod<MethodDefinition>[] }> {
  const batcher = batcherFor(model);
  const run = new InterleavedRun<MethodDefinition>(rt, {
    model,
    targets: selectTargets(model, ['q', 'v']),
    seed: 1,
    steps: STEPS,
    schedule: { kind: 'constant', warmupSteps: 0 },
    clipNorm: 1,
    weightDecay: 0,
    validationBatches: [],
    evalEvery: 0,
  });
  const losses = new Map<string, number[]>();
  try {
    for (const method of [lora, pissa]) {
      await run.add({ id: method.id, definition: method, settings: smallSettings(method), learningRate: 1e-2 }, () => method);
      losses.set(method.id, []);
    }
    for (let step = 0; step < STEPS; step++) {
      if (fault && step === FAULT_BEFORE) await fault(rt, run.methods);
      await run.step(step, batcher.batch(step), { onStep: (m, row) => void losses.get(m.id)!.push(bits(row.loss)) });
    }
    return { losses, methods: [...run.methods] };
  } finally {
    run.release();
  }
}

async function setElement(rt: Runtime, tensor: Tensor, index: number, value: number): Promise<void> {
  const values = await readTensor(rt, tensor);
  values[index] = value;
  rt.write(tensor.data, values);
}

describe('training health', () => {
  it('a non-finite method stops alone, naming the step, the layer and the tensor; the other trains on unchanged', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    try {
      const clean = await runWith(rt, model);
      for (const losses of clean.losses.values()) expect(losses.length).toBe(STEPS);
      expect(clean.methods.every((m) => !m.stopped && !m.halt)).toBe(true);
      const layerName = selectTargets(model, ['q'])[0]!;

      const cases: { name: string; faulty: string; fault: Fault; source: string; tensor: string; detail: RegExp }[] = [
        {
          name: 'a NaN in a LoRA weight',
          faulty: lora.id,
          fault: (r, methods) => setElement(r, firstLayer(methods[0]!).factors.A, 5, Number.NaN),
          source: 'optimizer state',
          tensor: `${layerName}.lora_A`,
          detail: new RegExp(`^${layerName.replace(/\./g, '\\.')}\\.lora_A in ${layerName.replace(/\./g, '\\.')} holds NaN \\(optimizer state`),
        },
        {
          name: "an infinite weight in PiSSA's frozen residual",
          faulty: pissa.id,
          fault: async (r, methods) => {
            const base = firstLayer(methods[1]!).base;
            if (!(base instanceof ResidualBase)) throw new Error('PiSSA: not a residual base');
            await setElement(r, base.weight, 3, Infinity);
          },
          source: 'forward activation',
          tensor: 'output',
          detail: /^the output of model\.layers\.0\.self_attn\.q_proj holds -?Infinity while its input is finite \(forward activation\)$/,
        },
        {
          name: 'gradients whose squared norm overflows f32',
          faulty: lora.id,
          fault: async (r, methods) => {
            const { A, B } = firstLayer(methods[0]!).factors;
            const a = await readTensor(r, A);
            r.write(
              A.data,
              a.map((x) => x * 1e-29),
            );
            r.write(B.data, new Float32Array(B.data.size).fill(1e29));
          },
          source: 'gradient',
          tensor: `${layerName}.lora_A`,
          detail: /^every gradient is finite but the sum of their squares overflows f32 \(the largest, -?\d\.\d\de\+\d+, is in .*lora_A/,
        },
      ];
      for (const c of cases) {
        const faulty = await runWith(rt, model, c.fault);
        const stopped = faulty.methods.find((m) => m.id === c.faulty)!;
        const other = faulty.methods.find((m) => m.id !== c.faulty)!;
        expect(stopped.stopped, c.name).toBe(true);
        expect(stopped.halt, c.name).toMatchObject({ step: FAULT_BEFORE + 1, source: c.source, tensor: c.tensor });
        expect(stopped.halt!.layer, c.name).toBe(layerName);
        expect(stopped.halt!.detail, c.name).toMatch(c.detail);
        expect(stopped.halt!.message, c.name).toMatch(new RegExp(`^stopped at step ${FAULT_BEFORE + 1}: `));
        expect(faulty.losses.get(c.faulty)!.length, c.name).toBe(FAULT_BEFORE + 1);
        expect(other.stopped, c.name).toBe(false);
        expect(faulty.losses.get(other.id), `${c.name}: ${other.id} goes on as without the fault`).toEqual(clean.losses.get(other.id));
      }
    } finally {
      releaseModel(rt, model);
    }
  }, 300_000);

  it('runComparison reports the stop with its names, and flags a diverging learning rate without stopping it', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    try {
      const batcher = batcherFor(model, 4);
      const steps = 25;
      const reports = await runComparison(rt, {
        model,
        methods: [
          { id: lora.id, settings: smallSettings(lora) },
          { id: full.id, learningRate: 1 },
          { id: pissa.id, settings: smallSettings(pissa), learningRate: 1e30 },
        ],
        targets: selectTargets(model, ['q', 'v', 'up', 'down']),
        steps,
        schedule: { kind: 'constant', peak: 1e-3, warmupSteps: 0 },
        clipNorm: 1,
        weightDecay: 0,
        seed: 1,
        trainBatch: (step) => batcher.batch(step % 3),
        validationBatches: [],
        evalEvery: 0,
      });
      const [calm, wild, broken] = reports as [MethodReport, MethodReport, MethodReport];
      // Parameters of ~1e30 after one update are finite; their products in the first projection are not.
      expect(broken.stoppedAt).toEqual({
        step: 2,
        source: 'forward activation',
        layer: 'model.layers.0.self_attn.q_proj',
        tensor: 'output',
        reason: expect.stringMatching(/^stopped at step 2: the output of model\.layers\.0\.self_attn\.q_proj holds (NaN|-?Infinity) while its input is finite/),
      });
      expect(broken.steps.length).toBe(2);
      expect(calm.stoppedAt).toBeUndefined();
      expect(calm.diverging).toBeUndefined();
      expect(calm.steps.some((s) => s.diverging)).toBe(false);
      expect(wild.stoppedAt).toBeUndefined();
      expect(wild.steps.length).toBe(steps);
      expect(wild.diverging, `losses ${wild.steps.map((s) => s.loss.toFixed(2)).join(' ')}`).toBeDefined();
      const flag = wild.diverging!;
      expect(flag.step - flag.since + 1).toBe(DIVERGENCE_RULE.patience);
      expect(flag.smoothed).toBeGreaterThan(DIVERGENCE_RULE.ratio * flag.minimum);
      expect(flag.message).toMatch(/^diverging since step \d+: the smoothed loss/);
      expect(wild.steps[flag.step - 1]!.diverging).toBe(true);
      expect(wild.steps[flag.step - 2]!.diverging).toBeUndefined();
    } finally {
      releaseModel(rt, model);
    }
  }, 300_000);
});

describe('DivergenceMonitor', () => {
  /** The float64 reference of the rule: bias-corrected EMA, its running minimum, 20 steps above 1.5×. */
  function reference(losses: readonly number[]): number | undefined {
    let ema = 0;
    let min = Infinity;
    let above = 0;
    for (const [i, loss] of losses.entries()) {
      ema = 0.9 * ema + 0.1 * loss;
      const s = ema / (1 - 0.9 ** (i + 1));
      min = Math.min(min, s);
      above = s > 1.5 * min ? above + 1 : 0;
      if (above >= 20) return i + 1;
    }
    return undefined;
  }

  const falling = Array.from({ length: 60 }, (_, i) => 3 * Math.exp(-i / 20) + 0.2 + 0.05 * Math.sin(i));
  const bump = [...falling.slice(0, 30), ...Array.from({ length: 12 }, () => 3), ...falling.slice(30)];
  const rising = [...falling.slice(0, 30), ...Array.from({ length: 40 }, (_, i) => 0.6 + 0.1 * i)];

  it('flags a sustained rise at the step the rule first holds, not a falling curve or a short bump', () => {
    for (const [series, label] of [
      [falling, 'falling'],
      [bump, 'bump'],
      [rising, 'rising'],
    ] as const) {
      const monitor = new DivergenceMonitor();
      const flags = series.map((loss, i) => monitor.observe(i + 1, loss));
      const expected = reference(series);
      expect(monitor.flag?.step, label).toBe(expected);
      expect(flags.indexOf(true) + 1 || undefined, label).toBe(expected);
    }
    expect(reference(falling)).toBeUndefined();
    expect(reference(bump)).toBeUndefined();
    expect(reference(rising)).toBeDefined();
  });

  it('continues from its state exactly as if it had not stopped, and ignores non-finite losses', () => {
    const whole = new DivergenceMonitor();
    const wholeFlags = rising.map((loss, i) => whole.observe(i + 1, loss));
    for (const cut of [1, 35, 55]) {
      const first = new DivergenceMonitor();
      const flags = rising.slice(0, cut).map((loss, i) => first.observe(i + 1, loss));
      const second = DivergenceMonitor.fromState(JSON.parse(JSON.stringify(first.state())) as Record<string, number>);
      flags.push(...rising.slice(cut).map((loss, i) => second.observe(cut + i + 1, loss)));
      expect(flags).toEqual(wholeFlags);
      expect(second.flag).toEqual(whole.flag);
    }
    const monitor = new DivergenceMonitor();
    monitor.observe(1, 2);
    const before = monitor.state();
    expect(monitor.observe(2, Number.NaN)).toBe(false);
    expect(monitor.state()).toEqual(before);
  });
});
