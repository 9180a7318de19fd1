// Test helpers: a fixture model from test/fixtures/ loaded onto the GPU, a fixed token batch for
// it, and that batch's logits and loss through a model whose projections may be replaced
// (an adapted model, or any map of linear layers).

import { resolveSettings, type MethodDefinition, type MethodSettings } from '../adapters/types';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import type { CausalLM } from '../models/causalLM';
import type { LinearLayer } from '../models/linearLayer';
import { loadCausalLM, type LoadOptions } from '../models/load';
import { Graph } from '../tensor/graph';
import { crossEntropy } from '../tensor/ops/crossEntropy';
import type { Tensor } from '../tensor/tensor';
import { readTensor, targetIds, tokenIds, type Runtime } from '../tensor/values';
import type { Batch } from './trainer';

export async function modelFiles(rt: Runtime, fixture: string, options: LoadOptions = {}): Promise<CausalLM> {
  return loadCausalLM(rt, await openModelFiles(await nodeDirectorySources(`test/fixtures/${fixture}`)), options);
}

/** `method`'s settings: its defaults, with rank 4 where it has a rank (small and quick). */
export function smallSettings(method: MethodDefinition): MethodSettings {
  return resolveSettings(method, method.settings.some((s) => s.key === 'rank') ? { rank: 4 } : {});
}

/**
 * A fixed batch of 2 sequences of 6 tokens for `model`: ids (i·step + offset) mod V over the
 * flattened [B, T], each position's target the next id of its row (−100 at the row's end).
 */
export function testBatch(model: CausalLM, step = 37, offset = 11): Batch {
  const [B, T] = [2, 6];
  const V = model.config.vocabSize;
  const ids = Array.from({ length: B * T }, (_, i) => (i * step + offset) % V);
  const targets = ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!));
  return { ids, targets, batchSize: B, seqLen: T };
}

/** A model as a test runs it: with `linears` in place of its own projections where given. */
export interface ModelUnderTest {
  readonly model: CausalLM;
  readonly linears?: ReadonlyMap<string, LinearLayer>;
}

/** The logits [B, T, V] of `batch`, recorded on g. */
export function batchLogits(g: Graph, target: ModelUnderTest, batch: Batch): Tensor {
  return target.model.forward(g, tokenIds(g, batch.ids, [batch.batchSize, batch.seqLen]), { linears: target.linears });
}

/** The mean cross-entropy [1] of `batch`, recorded on g (g.backward it where g records gradients). */
export function batchLoss(g: Graph, target: ModelUnderTest, batch: Batch): Tensor {
  return crossEntropy(g, batchLogits(g, target, batch), targetIds(g, batch.targets, [batch.batchSize, batch.seqLen]));
}

/** The logits of `batch` read back (no gradients). */
export async function logitsOf(rt: Runtime, target: ModelUnderTest, batch: Batch): Promise<Float32Array> {
  const g = new Graph(rt, false);
  try {
    return await readTensor(rt, batchLogits(g, target, batch));
  } finally {
    g.destroy();
  }
}

/** The mean cross-entropy of `batch` read back (no gradients). */
export async function lossOf(rt: Runtime, target: ModelUnderTest, batch: Batch): Promise<number> {
  const g = new Graph(rt, false);
  try {
    return (await readTensor(rt, batchLoss(g, target, batch)))[0]!;
  } finally {
    g.destroy();
  }
}

/**
 * (L(v + h) − L(v − h)) / 2h: the central difference of the loss on `batch` in entry `index` of a
 * tensor whose current values are `values`; the tensor holds `values` again afterwards.
 */
export async function centralDifference(
  rt: Runtime,
  target: ModelUnderTest,
  batch: Batch,
  tensor: Tensor,
  values: Float32Array,
  index: number,
  h: number,
): Promise<number> {
  const probe = async (delta: number) => {
    const copy = values.slice();
    copy[index] = values[index]! + delta;
    rt.write(tensor.data, copy);
    return lossOf(rt, target, batch);
  };
  const fd = ((await probe(h)) - (await probe(-h))) / (2 * h);
  rt.write(tensor.data, values);
  return fd;
}
