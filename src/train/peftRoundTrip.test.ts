// Export then load: every registered method with a PEFT adapter export, trained a few steps on
// the tiny Llama fixture, exported as PEFT files, read back (io/peftAdapterReader.ts) and loaded
// onto the ORIGINAL base as a method of its own (adapters/loadedAdapter.ts), gives the trained
// logits. New methods are covered by registering them.

import { describe, expect, it } from 'vitest';
import { peftAdapter } from '../adapters/export';
import { adapterMismatch, loadedAdapterMethod } from '../adapters/loadedAdapter';
import { METHODS } from '../adapters/registry';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type AdaptedModel } from '../adapters/types';
import { bytesSource } from '../io/byteSource';
import { peftAdapterFiles } from '../io/peft';
import { readPeftAdapter } from '../io/peftAdapterReader';
import { releaseModel } from '../models/load';
import { testContext } from '../test/gpu';
import { logitsOf, modelFiles, smallSettings, testBatch } from './testing';
import { Trainer } from './trainer';

// LoRA folders only: other PEFT types (VeRA, SHiRA) have their own round trips in export.test.ts.
const EXPORTING = METHODS.filter((m) => m.peft.kind === 'adapter' && m.peft.peftType === undefined);

describe('PEFT adapter round trip: export, load onto the original base, same logits', () => {
  it('covers every method that exports to PEFT', () => {
    expect(EXPORTING.length).toBeGreaterThanOrEqual(6);
  });

  for (const method of EXPORTING) {
    it(method.id, async () => {
      const rt = await testContext();
      const model = await modelFiles(rt, 'tiny-llama');
      const batch = testBatch(model);
      const settings = smallSettings(method);
      const targets = selectTargets(model, ['all']);
      const adapted = await method.create({ rt, model, targets, seed: 3, learningRate: 2e-2, calibration: () => [batch] }, settings);
      let loaded: AdaptedModel | undefined;
      try {
        const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 2e-2, warmupSteps: 0, totalSteps: 2 } });
        for (let i = 0; i < 2; i++) await trainer.step(batch);
        trainer.destroy();
        const expected = await logitsOf(rt, adapted, batch);
        const files = peftAdapterFiles(await peftAdapter(rt, method, adapted, 'tiny-llama'));
        const file = (name: string) => bytesSource(name, files.find((f) => f.name === name)!.data);
        const adapter = await readPeftAdapter(file('adapter_config.json'), file('adapter_model.safetensors'));
        expect(adapterMismatch(adapter, model)).toBeUndefined();
        const asMethod = loadedAdapterMethod(adapter, `${method.id}-export`);
        const exportBase = method.peft.kind === 'adapter' ? (method.peft.base ?? 'original') : 'original';
        // An adapter for a 4-bit base is loaded onto the same NF4 copy of W.
        const base = exportBase === 'nf4' ? (settings.doubleQuant === true ? 'nf4-double' : 'nf4') : 'original';
        loaded = await asMethod.create({ rt, model, targets, seed: 0, learningRate: 2e-2 }, resolveSettings(asMethod, { base }));
        const got = await logitsOf(rt, loaded, batch);
        const diff = (a: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0);
        if (exportBase === 'original-lossy') {
          // Loaded on the original W it misses only the trained residual's quantization error:
          // much closer to the trained model than the base model is, though not equal.
          const plain = await logitsOf(rt, { model }, batch);
          expect(diff(got)).toBeLessThan(diff(plain));
        } else {
          expect(diff(got)).toBeLessThan(1e-4);
        }
      } finally {
        loaded?.release(rt);
        adapted.release(rt);
        releaseModel(rt, model);
      }
    });
  }

  it('refuses an adapter for another base by module and shape', async () => {
    const rt = await testContext();
    const llama = await modelFiles(rt, 'tiny-llama');
    const gpt2 = await modelFiles(rt, 'tiny-gpt2');
    const method = EXPORTING[0]!;
    const adapted = await method.create(
      { rt, model: llama, targets: selectTargets(llama, ['all']), seed: 3, learningRate: 1e-2, calibration: () => [testBatch(llama)] },
      smallSettings(method),
    );
    try {
      const files = peftAdapterFiles(await peftAdapter(rt, method, adapted, 'tiny-llama'));
      const file = (name: string) => bytesSource(name, files.find((f) => f.name === name)!.data);
      const adapter = await readPeftAdapter(file('adapter_config.json'), file('adapter_model.safetensors'));
      expect(adapterMismatch(adapter, gpt2)).toMatch(/which this model does not have/);
      await expect(loadedAdapterMethod(adapter, 'x').create({ rt, model: gpt2, targets: [], seed: 0, learningRate: 1e-3 }, {})).rejects.toThrow(
        /load the base model the adapter was trained on/,
      );
    } finally {
      adapted.release(rt);
      releaseModel(rt, llama);
      releaseModel(rt, gpt2);
    }
  });
});
