// Bit-identical resume: an interleaved run of LoRA, PiSSA (dense residual base), QLoRA (NF4 base)
// and SPP (pruned base, Wanda calibration) on the tiny Llama, trained N steps without a break, and
// the same run interrupted 1, 2 and 3 times (checkpoint captured, written to the file format and
// read back, every GPU resource released, a fresh run started and restored) give the same losses,
// validation losses and trained tensors, compared by their float32 bits; every other registered
// method, interrupted once, also continues bit for bit. A restore into a model
// whose targeted weights differ is refused by the frozen-base check.

import { describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { qlora } from '../adapters/methods/quantized';
import { spp } from '../adapters/methods/spp';
import { selectTargets } from '../adapters/targets';
import type { MethodDefinition } from '../adapters/types';
import { METHODS as REGISTERED } from '../adapters/registry';
import { InputError } from '../errors';
import { bytesSource, concatBytes } from '../io/byteSource';
import { encodeCheckpoint, readCheckpoint, type Checkpoint, type RunIdentity } from '../io/checkpointFile';
import { createBatcher, type Batcher } from '../io/datasets';
import type { CausalLM } from '../models/causalLM';
import { releaseModel } from '../models/load';
import { readTensor, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { captureCheckpoint, restoreCheckpoint } from './checkpoint';
import { InterleavedRun } from './compare';
import { modelFiles, smallSettings } from './testing';

const STEPS = 7;
const METHODS: readonly MethodDefinition[] = [lora, pissa, qlora, spp];
const SEED = 5;

const IDENTITY: RunIdentity = {
  model: { name: 'tiny-llama', fingerprint: 'fixture' },
  seed: SEED,
  steps: STEPS,
  settings: { batch: 2, seqLen: 8 },
};

/** 11 synthetic rows of 5 to 8 tokens over the fixture's vocabulary (V = 128), loss on all but the first token. */
function batcherFor(model: CausalLM): Batcher {
  const V = model.config.vocabSize;
  const rows = Array.from({ length: 11 }, (_, r) => {
    const ids = Array.from({ length: 5 + (r % 4) }, (_, t) => (r * 29 + t * 13 + ((t * t) % 7)) % V);
    return { ids, lossMask: ids.map((_, t) => t > 0) };
  });
  return createBatcher(rows, { batchSize: 2, seqLen: 8, seed: SEED });
}

interface Trace {
  /** Per method: each step's loss as its float32 bits. */
  readonly losses: number[][];
  readonly validation: number[][];
  /** Per method: every trainable tensor's final values as bits. */
  readonly finals: Uint32Array[][];
}

const bits = (x: number): number => new Uint32Array(Float32Array.of(x).buffer)[0]!;

function newRun(rt: Runtime, model: CausalLM, batcher: Batcher): InterleavedRun<number> {
  return new InterleavedRun<number>(rt, {
    model,
    targets: selectTargets(model, ['q', 'up', 'down']),
    seed: SEED,
    calibration: (count) => Array.from({ length: count }, (_, i) => batcher.batch(i)),
    steps: STEPS,
    schedule: { kind: 'cosine', warmupSteps: 2 },
    clipNorm: 1,
    weightDecay: 0.01,
    validationBatches: [batcher.batch(100)],
    evalEvery: 3,
  });
}

async function addMethods(run: InterleavedRun<number>): Promise<void> {
  for (const [i, method] of METHODS.entries()) {
    await run.add({ id: method.id, definition: method, settings: smallSettings(method), learningRate: 5e-3 }, () => i);
  }
}

/** Captures, encodes to the two files, releases every method, reads the files back, starts and restores a new run. */
async function interrupt(rt: Runtime, run: InterleavedRun<number>, model: CausalLM, batcher: Batcher, step: number): Promise<InterleavedRun<number>> {
  const captured = await captureCheckpoint(rt, run, { identity: IDENTITY, step });
  const files = encodeCheckpoint(captured.draft, captured.tensors);
  run.release();
  const checkpoint: Checkpoint = await readCheckpoint(
    new TextEncoder().encode(files.manifest),
    'memory/checkpoint.json',
    bytesSource('memory/tensors.safetensors', concatBytes(files.tensors)),
  );
  const resumed = newRun(rt, model, batcher);
  await addMethods(resumed);
  expect(await restoreCheckpoint(rt, resumed, checkpoint, 'memory', IDENTITY)).toBe(step);
  return resumed;
}

async function trace(rt: Runtime, model: CausalLM, interruptions: readonly number[]): Promise<Trace> {
  const batcher = batcherFor(model);
  const losses: number[][] = METHODS.map(() => []);
  const validation: number[][] = METHODS.map(() => []);
  let run = newRun(rt, model, batcher);
  try {
    await addMethods(run);
    for (let step = 0; step < STEPS; step++) {
      if (interruptions.includes(step)) run = await interrupt(rt, run, model, batcher, step);
      await run.step(step, batcher.batch(step), {
        onStep: (m, row) => void losses[m.record]!.push(bits(row.loss)),
        onEval: (m, loss) => void validation[m.record]!.push(bits(loss)),
      });
    }
    const finals: Uint32Array[][] = [];
    for (const method of run.methods) {
      const values: Uint32Array[] = [];
      for (const { tensor } of method.trainer.trainable) values.push(new Uint32Array((await readTensor(rt, tensor)).buffer));
      finals.push(values);
    }
    return { losses, validation, finals };
  } finally {
    run.release();
  }
}

describe('checkpoint and resume', () => {
  it(`LoRA, PiSSA, QLoRA and SPP interleaved for ${STEPS} steps: interrupted 1, 2 and 3 times, every later loss and tensor is bit-identical`, async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    try {
      const straight = await trace(rt, model, []);
      for (const m of straight.losses) {
        expect(m.length).toBe(STEPS);
        expect(new Set(m).size).toBeGreaterThan(1); // the losses move
      }
      expect(straight.validation.every((v) => v.length === 3)).toBe(true);
      for (const interruptions of [[3], [2, 5], [1, 2, 6]]) {
        const resumed = await trace(rt, model, interruptions);
        METHODS.forEach((method, i) => {
          expect(resumed.losses[i], `${method.id} losses, interrupted at ${interruptions.join(', ')}`).toEqual(straight.losses[i]);
          expect(resumed.validation[i], `${method.id} validation`).toEqual(straight.validation[i]);
          resumed.finals[i]!.forEach((values, j) => expect([...values], `${method.id} tensor ${j}`).toEqual([...straight.finals[i]![j]!]));
        });
      }
    } finally {
      releaseModel(rt, model);
    }
  }, 600_000);

  it('every registered method continues bit for bit after one interruption', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const batcher = batcherFor(model);
    const steps = 3;
    const lossesOf = async (method: MethodDefinition, interruptAt?: number): Promise<number[]> => {
      const losses: number[] = [];
      let run = newRun(rt, model, batcher);
      const add = (r: InterleavedRun<number>) => r.add({ id: method.id, definition: method, settings: smallSettings(method), learningRate: 5e-3 }, () => 0);
      try {
        await add(run);
        for (let step = 0; step < steps; step++) {
          if (step === interruptAt) {
            const captured = await captureCheckpoint(rt, run, { identity: IDENTITY, step });
            const files = encodeCheckpoint(captured.draft, captured.tensors);
            run.release();
            run = newRun(rt, model, batcher);
            await add(run);
            const checkpoint = await readCheckpoint(
              new TextEncoder().encode(files.manifest),
              'm/checkpoint.json',
              bytesSource('m/t', concatBytes(files.tensors)),
            );
            await restoreCheckpoint(rt, run, checkpoint, 'memory', IDENTITY);
          }
          await run.step(step, batcher.batch(step), { onStep: (_m, row) => void losses.push(bits(row.loss)) });
        }
        return losses;
      } finally {
        run.release();
      }
    };
    try {
      for (const method of REGISTERED) {
        const straight = await lossesOf(method);
        expect(straight.length, method.id).toBe(steps);
        expect(await lossesOf(method, 1), method.id).toEqual(straight);
      }
    } finally {
      releaseModel(rt, model);
    }
  }, 900_000);

  it('refuses to restore into a model whose targeted weights differ, naming the method and the layer', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const batcher = batcherFor(model);
    const run = newRun(rt, model, batcher);
    let captured;
    try {
      await run.add({ id: lora.id, definition: lora, settings: smallSettings(lora), learningRate: 5e-3 }, () => 0);
      await run.step(0, batcher.batch(0), {});
      captured = await captureCheckpoint(rt, run, { identity: IDENTITY, step: 1 });
    } finally {
      run.release();
    }
    const files = encodeCheckpoint(captured.draft, captured.tensors);
    const checkpoint = await readCheckpoint(
      new TextEncoder().encode(files.manifest),
      'memory/checkpoint.json',
      bytesSource('memory/tensors.safetensors', concatBytes(files.tensors)),
    );
    const target = selectTargets(model, ['q'])[0]!;
    const weight = model.parameter(`${target}.weight`);
    const original = await readTensor(rt, weight);
    const changed = original.slice();
    changed[0] = changed[0]! + 0.5;
    rt.write(weight.data, changed);
    const resumed = newRun(rt, model, batcher);
    try {
      await resumed.add({ id: lora.id, definition: lora, settings: smallSettings(lora), learningRate: 5e-3 }, () => 0);
      const error = await restoreCheckpoint(rt, resumed, checkpoint, 'memory', IDENTITY).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(
        new RegExp(
          `cannot resume from memory: lora: its init built a different frozen base for ${target.replace(/\./g, '\\.')} than when the checkpoint was made`,
        ),
      );
    } finally {
      resumed.release();
      rt.write(weight.data, original);
      releaseModel(rt, model);
    }
  }, 300_000);
});
