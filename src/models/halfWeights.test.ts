// Frozen 16-bit weights (models/load.ts, gpu/tensor.ts): the BF16 fixtures keep every matrix packed
// two per u32 on the GPU, which the pool's live bytes show, and give bit for bit the logits of the
// same weights expanded to f32 (bf16 → f32 is exact and the packed matmuls do the same arithmetic);
// f32 checkpoints stored as f16 on request halve their matrices and stay close to f32.

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { frozenStorage, frozenWeightBytes, openModelFiles, storageBytes, type FrozenPrecision } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import { Graph } from '../tensor/graph';
import { crossEntropy } from '../tensor/ops/crossEntropy';
import { isPacked, readTensor, targetIds, tokenIds, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import type { CausalLM } from './causalLM';
import { cloneCausalLM, heldBytesPerParam, loadCausalLM, releaseModel } from './load';

interface Reference {
  readonly ids: number[][];
  readonly loss: number;
}

async function reference(folder: string): Promise<Reference> {
  return JSON.parse(await readFile(`test/fixtures/${folder}/reference.json`, 'utf8')) as Reference;
}

function shiftedTargets(ids: readonly (readonly number[])[]): number[] {
  return ids.flatMap((row) => row.map((_, t) => (t + 1 < row.length ? row[t + 1]! : -100)));
}

async function load(rt: Runtime, folder: string, frozenPrecision: FrozenPrecision): Promise<{ model: CausalLM; poolBytes: number }> {
  const source = await openModelFiles(await nodeDirectorySources(`test/fixtures/${folder}`));
  await rt.sync();
  const before = rt.stats().liveBytes;
  const model = await loadCausalLM(rt, source, { frozenPrecision });
  await rt.sync();
  return { model, poolBytes: rt.stats().liveBytes - before };
}

async function logitsAndLoss(rt: Runtime, model: CausalLM, ids: number[][]): Promise<{ logits: Float32Array; loss: number }> {
  const [B, T] = [ids.length, ids[0]!.length];
  const g = new Graph(rt, false);
  try {
    const logits = model.forward(g, tokenIds(g, ids.flat(), [B, T]));
    const loss = crossEntropy(g, logits, targetIds(g, shiftedTargets(ids), [B * T]));
    return { logits: await readTensor(rt, logits), loss: (await readTensor(rt, loss))[0]! };
  } finally {
    g.destroy();
  }
}

describe('frozen 16-bit weights', () => {
  for (const folder of ['tiny-qwen2', 'tiny-qwen3', 'tiny-gemma3']) {
    it(`${folder} (BF16): matrices stay packed (2 bytes a weight in the pool) and the logits equal the f32-expanded model's`, async () => {
      const rt = await testContext();
      const source = await openModelFiles(await nodeDirectorySources(`test/fixtures/${folder}`));
      const packed = await load(rt, folder, 'checkpoint');
      const expanded = await load(rt, folder, 'f32');
      try {
        let matrices = 0;
        let packedBuffers = 0;
        let f32Buffers = 0;
        for (const p of packed.model.parameters()) {
          const matrix = p.tensor.shape.length === 2;
          expect(isPacked(p.tensor), p.name).toBe(matrix);
          if (matrix) {
            matrices++;
            expect(p.tensor.data.half).toBe('bf16');
          }
          const count = p.tensor.data.size;
          expect(p.tensor.data.byteLength).toBe(storageBytes(count, matrix ? 'bf16' : 'f32'));
          packedBuffers += p.tensor.data.entry.sizeClass;
          f32Buffers += expanded.model.parameter(p.name).data.entry.sizeClass;
          expect(isPacked(expanded.model.parameter(p.name))).toBe(false);
        }
        expect(matrices).toBeGreaterThan(0);
        // What the pool holds after the load is the parameters' buffers and nothing else.
        expect(packed.poolBytes).toBe(packedBuffers);
        expect(expanded.poolBytes).toBe(f32Buffers);
        expect(packed.poolBytes).toBeLessThan(0.6 * expanded.poolBytes);
        const total = source.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
        expect(frozenWeightBytes(source)).toBe(packed.model.parameters().reduce((n, p) => n + p.tensor.data.byteLength, 0));
        expect(frozenWeightBytes(source, 'f32')).toBe(4 * total);
        console.log(`${folder}: pool bytes after load ${packed.poolBytes} packed vs ${expanded.poolBytes} f32 (${total} weights)`);

        const ref = await reference(folder);
        const a = await logitsAndLoss(rt, packed.model, ref.ids);
        const b = await logitsAndLoss(rt, expanded.model, ref.ids);
        expect(Array.from(a.logits)).toEqual(Array.from(b.logits));
        expect(Math.abs(a.loss - ref.loss)).toBeLessThan(1e-5);
        // The values read back are the checkpoint's.
        for (const p of packed.model.parameters())
          expect(await readTensor(rt, p.tensor), p.name).toEqual(await readTensor(rt, expanded.model.parameter(p.name)));
        const held = heldBytesPerParam(packed.model);
        for (const t of source.tensors) expect(held(t)).toBe(frozenStorage(t) === 'f32' ? 4 : 2);
      } finally {
        releaseModel(rt, packed.model);
        releaseModel(rt, expanded.model);
      }
    });
  }

  it('full fine-tuning clones a packed model as f32 with the same values', async () => {
    const rt = await testContext();
    const { model } = await load(rt, 'tiny-qwen2', 'checkpoint');
    const clone = cloneCausalLM(rt, model, true);
    try {
      for (const p of clone.parameters()) {
        expect(isPacked(p.tensor)).toBe(false);
        expect(p.tensor.requiresGrad).toBe(true);
        expect(await readTensor(rt, p.tensor)).toEqual(await readTensor(rt, model.parameter(p.name)));
      }
    } finally {
      releaseModel(rt, clone);
      releaseModel(rt, model);
    }
  });

  for (const folder of ['tiny-llama', 'tiny-gpt2']) {
    it(`${folder} (F32) stored as f16 on request: matrices packed f16, half their bytes, logits close to f32`, async () => {
      const rt = await testContext();
      const source = await openModelFiles(await nodeDirectorySources(`test/fixtures/${folder}`));
      const half = await load(rt, folder, 'f16');
      const full = await load(rt, folder, 'checkpoint');
      try {
        for (const p of half.model.parameters()) {
          expect(p.tensor.data.half, p.name).toBe(p.tensor.shape.length === 2 ? 'f16' : undefined);
          expect(isPacked(full.model.parameter(p.name))).toBe(false);
        }
        expect(frozenWeightBytes(source, 'f16')).toBe(half.model.parameters().reduce((n, p) => n + p.tensor.data.byteLength, 0));
        expect(frozenWeightBytes(source, 'f16')).toBeLessThan(0.6 * frozenWeightBytes(source));
        const ref = await reference(folder);
        const a = await logitsAndLoss(rt, half.model, ref.ids);
        const b = await logitsAndLoss(rt, full.model, ref.ids);
        let maxDiff = 0;
        let maxAbs = 0;
        for (let i = 0; i < b.logits.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(a.logits[i]! - b.logits[i]!));
          maxAbs = Math.max(maxAbs, Math.abs(b.logits[i]!));
        }
        // f16 keeps 11 significant bits: relative rounding ≤ 2^-11 per weight.
        expect(maxDiff).toBeGreaterThan(0);
        expect(maxDiff / maxAbs).toBeLessThan(1e-2);
        expect(Math.abs(a.loss - ref.loss) / ref.loss).toBeLessThan(1e-2);
      } finally {
        releaseModel(rt, half.model);
        releaseModel(rt, full.model);
      }
    });
  }
});
