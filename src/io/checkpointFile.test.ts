// Tests of the checkpoint files (no GPU): a checkpoint written and read back is the same, bit for
// bit, NaN and −0 included; damaged or mismatched ones are refused with messages that name what is
// wrong (a truncated or altered tensors file, a cut manifest, another version, a tensor missing or
// of another shape, tensors the manifest does not list, another model, data, method or setting).

import { describe, expect, it } from 'vitest';
import { InputError } from '../errors';
import { bytesSource } from './byteSource';
import { concatBytes } from './byteSource';
import {
  checkCheckpointMatches,
  checkpointName,
  checkpointStep,
  encodeCheckpoint,
  f32Fingerprint,
  Fingerprint,
  readCheckpoint,
  sequencesFingerprint,
  tensorKey,
  type ManifestDraft,
  type MethodIdentity,
  type RunIdentity,
} from './checkpointFile';
import { writeSafetensors } from './safetensors';

const RUN: RunIdentity = {
  model: { name: 'tiny', fingerprint: '0123456789abcdef' },
  data: { name: 'data.jsonl', fingerprint: 'fedcba9876543210', trainExamples: 9 },
  seed: 3,
  steps: 10,
  settings: { batch: 2, seqLen: 16, schedule: 'cosine', targets: 'q,v' },
};

const LORA: MethodIdentity = { id: 'method-a', settings: { rank: 4, alpha: 8, rslora: false }, startStep: 0, learningRate: 1e-3, clipNorm: 1, weightDecay: 0 };

function sample(): { draft: ManifestDraft; tensors: Map<string, Float32Array> } {
  const a = Float32Array.from([1, -0, Number.NaN, Infinity, 3.25, -1e-30]); // [2, 3]
  const b = Float32Array.from([0.5, 0.25]); // [2]
  const tensors = new Map<string, Float32Array>();
  for (const [name, data] of [
    ['layer.lora_A', a],
    ['layer.lora_B', b],
  ] as const) {
    tensors.set(tensorKey(0, name, 'value'), data);
    tensors.set(
      tensorKey(0, name, 'adam_m'),
      data.map((x) => x * 2),
    );
    tensors.set(
      tensorKey(0, name, 'adam_v'),
      data.map((x) => x * x),
    );
  }
  return {
    draft: {
      createdAt: '2025-01-01T00:00:00.000Z',
      step: 4,
      run: RUN,
      rng: [{ stream: 'batch order', seed: 3, position: 4 }],
      methods: [
        {
          ...LORA,
          trainerSteps: 4,
          health: { ema: 1.5, count: 4, minimum: Infinity, above: 0 },
          frozen: [{ layer: 'layer', fingerprint: 'aaaaaaaaaaaaaaaa' }],
          tensors: [
            { name: 'layer.lora_A', shape: [2, 3], adamSteps: 4 },
            { name: 'layer.lora_B', shape: [2], adamSteps: 3 },
          ],
          stopped: { step: 4, reason: 'the loss is NaN', source: 'forward activation', layer: 'layer', tensor: 'output', value: Number.NaN },
          history: {
            steps: [{ step: 0, loss: Number.NaN, gradNorm: Number.NaN, lr: 1e-3, tokens: 12, ms: 3.5, nonFinite: 'loss', diverging: true }],
            validation: [{ step: 1, loss: 2.5 }],
            trainMs: 3.5,
            peakGpuBytes: 4096,
          },
        },
      ],
    },
    tensors,
  };
}

async function roundTrip(
  manifest: string,
  parts: Uint8Array[],
  edit: { manifest?: (m: string) => string; tensors?: (b: Uint8Array) => Uint8Array } = {},
): Promise<ReturnType<typeof readCheckpoint>> {
  const text = edit.manifest ? edit.manifest(manifest) : manifest;
  const bytes = concatBytes(parts);
  return readCheckpoint(
    new TextEncoder().encode(text),
    'run/step-00000004/checkpoint.json',
    bytesSource('run/step-00000004/tensors.safetensors', edit.tensors ? edit.tensors(bytes) : bytes),
  );
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('checkpoint files', () => {
  it('round-trips the manifest and every tensor bit for bit (NaN, ±Inf, −0, tiny values), history and stop included', async () => {
    const { draft, tensors } = sample();
    const encoded = encodeCheckpoint(draft, tensors);
    const back = await roundTrip(encoded.manifest, encoded.tensors);
    expect(back.tensors.size).toBe(tensors.size);
    for (const [key, data] of tensors) {
      const got = back.tensors.get(key)!;
      expect(new Uint32Array(got.buffer, got.byteOffset, got.length)).toEqual(new Uint32Array(data.buffer));
    }
    const m = back.manifest;
    expect(m.step).toBe(4);
    expect(m.run).toEqual(RUN);
    expect(m.methods[0]!.health.minimum).toBe(Infinity);
    expect(m.methods[0]!.stopped).toEqual(draft.methods[0]!.stopped);
    expect(m.methods[0]!.history).toEqual(draft.methods[0]!.history);
    expect(m.methods[0]!.tensors).toEqual(draft.methods[0]!.tensors);
    expect(m.tensorsFingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses a truncated, altered or foreign tensors file, naming the file', async () => {
    const { draft, tensors } = sample();
    const { manifest, tensors: parts } = encodeCheckpoint(draft, tensors);
    const cut = await refusal(roundTrip(manifest, parts, { tensors: (b) => b.subarray(0, b.length - 5) }));
    expect(cut).toContain('tensors.safetensors');
    expect(cut).toMatch(/truncated/);
    const flipped = await refusal(
      roundTrip(manifest, parts, {
        tensors: (b) => {
          const copy = b.slice();
          copy[copy.length - 3]! ^= 0x40;
          return copy;
        },
      }),
    );
    expect(flipped).toMatch(/tensors\.safetensors: its contents differ from what .*checkpoint\.json recorded .* damaged/);
    const foreign = writeSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: Float32Array.from([1]) }]);
    expect(await refusal(roundTrip(manifest, [foreign]))).toMatch(/contents differ/);
  });

  it('refuses a cut or damaged manifest, another format version, a missing tensor, a shape mismatch and unlisted tensors', async () => {
    const { draft, tensors } = sample();
    const { manifest, tensors: parts } = encodeCheckpoint(draft, tensors);
    expect(await refusal(roundTrip(manifest, parts, { manifest: (m) => m.slice(0, m.length / 2) }))).toMatch(
      /checkpoint\.json: is not valid JSON .* cut short/,
    );
    expect(await refusal(roundTrip(manifest, parts, { manifest: (m) => m.replace('"version": 1', '"version": 7') }))).toContain(
      'checkpoint format version 7; this Adapter Studio reads version 1',
    );
    expect(await refusal(roundTrip(manifest, parts, { manifest: (m) => m.replace('"trainerSteps": 4', '"trainerSteps": -1') }))).toContain(
      'methods[0].trainerSteps must be a whole number ≥ 0',
    );
    const missing = await refusal(roundTrip(manifest, parts, { manifest: (m) => m.replace('"layer.lora_B"', '"layer.lora_C"') }));
    expect(missing).toContain('tensor method0/layer.lora_C:value (method-a) is missing');
    const shape = await refusal(roundTrip(manifest, parts, { manifest: (m) => m.replace(/"shape": \[\n\s*2,\n\s*3\n\s*\]/, '"shape": [3, 2]') }));
    expect(shape).toContain('tensor method0/layer.lora_A:value has shape [2, 3] but run/step-00000004/checkpoint.json says [3, 2]');
    const fewer = { ...draft, methods: [{ ...draft.methods[0]!, tensors: draft.methods[0]!.tensors.slice(0, 1) }] };
    const listed = new Map([...tensors].filter(([k]) => k.includes('lora_A')));
    const shortManifest = encodeCheckpoint(fewer, listed).manifest.replace(
      /"tensorsFingerprint": "[0-9a-f]+"/,
      `"tensorsFingerprint": "${JSON.parse(manifest).tensorsFingerprint}"`,
    );
    expect(await refusal(roundTrip(shortManifest, parts))).toContain(
      'holds 3 tensors run/step-00000004/checkpoint.json does not list (first: method0/layer.lora_B:value)',
    );
  });

  it('refuses to resume another run, listing every difference', () => {
    const { draft, tensors } = sample();
    const manifest = JSON.parse(encodeCheckpoint(draft, tensors).manifest.replace(/\{\s*"\$float": "[^"]+"\s*\}/g, '0'));
    expect(() => checkCheckpointMatches(manifest, 'ckpt/step-00000004', RUN, [LORA])).not.toThrow();
    const other = (run: Partial<RunIdentity>, methods: MethodIdentity[] = [LORA]): string => {
      try {
        checkCheckpointMatches(manifest, 'ckpt/step-00000004', { ...RUN, ...run }, methods);
      } catch (error) {
        expect(error).toBeInstanceOf(InputError);
        return (error as Error).message;
      }
      throw new Error('expected a refusal');
    };
    expect(other({ model: { name: 'other', fingerprint: '1111111111111111' } })).toContain(
      'cannot resume from ckpt/step-00000004: it belongs to another run: it was made with the model tiny (fingerprint 0123456789abcdef), not other (1111111111111111)',
    );
    expect(other({ seed: 4, steps: 20 })).toMatch(/seed is 3 in the checkpoint, 4 now; steps is 10 in the checkpoint, 20 now/);
    expect(other({ settings: { ...RUN.settings, batch: 4 } })).toContain('batch is 2 in the checkpoint, 4 now');
    expect(other({}, [{ ...LORA, id: 'method-b' }])).toContain('the methods are method-a in the checkpoint, method-b now');
    expect(other({}, [{ ...LORA, settings: { ...LORA.settings, rank: 8 } }])).toContain('method-a: setting rank is 4 in the checkpoint, 8 now');
    expect(other({}, [{ ...LORA, learningRate: 2e-3 }])).toContain('method-a: learning rate is 0.001 in the checkpoint, 0.002 now');
  });

  it('fingerprints do not depend on how the bytes are cut, and tell apart values that compare equal', () => {
    const bytes = Uint8Array.from({ length: 103 }, (_, i) => (i * 37 + 11) & 255);
    const whole = new Fingerprint().update(bytes).hex();
    for (const cuts of [[1], [3, 50], [4, 5, 6, 99], [102]]) {
      const f = new Fingerprint();
      let at = 0;
      for (const cut of [...cuts, bytes.length]) {
        f.update(bytes.subarray(at, cut));
        at = cut;
      }
      expect(f.hex()).toBe(whole);
    }
    expect(f32Fingerprint(Float32Array.from([0]))).not.toBe(f32Fingerprint(Float32Array.from([-0])));
    expect(new Fingerprint().update(new Uint8Array(4)).hex()).not.toBe(new Fingerprint().update(new Uint8Array(5)).hex());
    const rows = [{ ids: [1, 2, 3], lossMask: [false, true, true] }];
    expect(sequencesFingerprint(rows)).not.toBe(sequencesFingerprint([{ ids: [1, 2, 3], lossMask: [false, false, true] }]));
    expect(sequencesFingerprint(rows)).not.toBe(
      sequencesFingerprint([
        { ids: [1, 2], lossMask: [false, true] },
        { ids: [3], lossMask: [true] },
      ]),
    );
  });

  it('names checkpoint folders so that they sort by step, and reads the step back', () => {
    expect(checkpointName(42)).toBe('step-00000042');
    expect(checkpointStep('step-00000042')).toBe(42);
    expect(checkpointStep('.tmp-step-00000042-12')).toBeUndefined();
    expect(checkpointStep('step-42')).toBeUndefined();
  });
});
