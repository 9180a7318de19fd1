// EVA's calibration: the principal components of every target projection's INPUT activations
// over a few training batches (linalg/inputScatter.ts has the math). The shared model runs
// forward (no gradients) with each target wrapped by a layer that adds its input to running sums
// before calling it. Projections that read the very same tensor (q, k, v; gate, up) share one set
// of sums and one decomposition, as PEFT's EVA shares one SVD hook among layers whose inputs hash
// equal (eva.py HashHook); here "the same" is the same tensor object within a forward pass.
// Tokens: with `labelMask`, only positions whose own label counts, as PEFT's
// prepare_model_inputs_fn_language_modeling keeps labels != -100. PEFT's labels are the unshifted
// token ids, ours are next-token targets, so position p of a row counts when p ≥ 1 and
// targets[p − 1] ≠ −100. Without it every position is used (the studio's batches carry no
// attention mask, so padding is included).

import type { CausalLM } from '../../models/causalLM';
import type { LinearLayer } from '../../models/linearLayer';
import { accumulateInputScatter, inputComponents, inputScatter, releaseInputScatter, type ComponentOptions, type InputComponents, type InputScatter } from '../../linalg/inputScatter';
import { Graph } from '../../tensor/graph';
import { Tensor } from '../../tensor/tensor';
import { releaseTensors, tokenIds, type Runtime } from '../../tensor/values';
import type { CalibrationBatch } from '../types';

export type { InputComponents } from '../../linalg/inputScatter';

interface Group {
  readonly sums: InputScatter;
  /** The batch this group last accumulated (each input is counted once per forward pass). */
  batch: number;
  members: string[];
}

class RecordingLinear implements LinearLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(
    readonly inner: LinearLayer,
    readonly recorder: Recorder,
  ) {
    this.inFeatures = inner.inFeatures;
    this.outFeatures = inner.outFeatures;
  }

  get name(): string {
    return this.inner.name;
  }

  forward(g: Graph, x: Tensor): Tensor {
    this.recorder.record(this.inner.name, this.inFeatures, x);
    return this.inner.forward(g, x);
  }
}

class Recorder {
  readonly groups = new Map<string, Group>();
  /** Inputs seen in the current batch → their group (finds projections that share one). */
  private seen = new Map<Tensor, Group>();
  batch = -1;
  rows: Tensor | undefined;

  constructor(readonly rt: Runtime) {}

  startBatch(index: number, rows: Tensor | undefined): void {
    this.batch = index;
    this.rows = rows;
    this.seen = new Map();
  }

  record(name: string, inFeatures: number, x: Tensor): void {
    let group = this.groups.get(name);
    if (!group) {
      group = this.seen.get(x) ?? { sums: inputScatter(this.rt, inFeatures, name), batch: -1, members: [] };
      group.members.push(name);
      this.groups.set(name, group);
    }
    this.seen.set(x, group);
    if (group.batch === this.batch) return;
    group.batch = this.batch;
    accumulateInputScatter(this.rt, group.sums, x, this.rows);
  }

  release(): void {
    for (const group of new Set(this.groups.values())) releaseInputScatter(this.rt, group.sums);
  }
}

/** Token positions [K] (row-major over [B, T]) whose own label counts: p mod T ≥ 1 and targets[p − 1] ≠ −100. */
export function labelledPositions(batch: CalibrationBatch): Uint32Array {
  const out: number[] = [];
  for (let p = 0; p < batch.batchSize * batch.seqLen; p++) {
    if (p % batch.seqLen >= 1 && batch.targets[p - 1] !== -100) out.push(p);
  }
  return Uint32Array.from(out);
}

export interface InputComponentOptions extends ComponentOptions {
  /** Components wanted for a projection; projections sharing an input get their largest. */
  readonly components: (name: string) => number;
  readonly labelMask: boolean;
  /** Called after each shared input is decomposed. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Per target: the top principal components of its inputs (targets sharing an input share the object). */
export async function targetInputComponents(
  rt: Runtime,
  model: CausalLM,
  targets: readonly string[],
  batches: readonly CalibrationBatch[],
  options: InputComponentOptions,
): Promise<Map<string, InputComponents>> {
  const recorder = new Recorder(rt);
  const recorders = new Map(targets.map((name) => [name, new RecordingLinear(model.linear(name), recorder)]));
  try {
    for (const [index, batch] of batches.entries()) {
      const positions = options.labelMask ? labelledPositions(batch) : undefined;
      const rows = positions ? Tensor.leaf(rt.upload(positions, [positions.length], 'u32', 'calibration positions'), false, 'calibration positions') : undefined;
      recorder.startBatch(index, rows);
      const g = new Graph(rt, false);
      try {
        model.forward(g, tokenIds(g, batch.ids, [batch.batchSize, batch.seqLen]), { linears: recorders });
        await rt.sync();
      } finally {
        g.destroy();
        if (rows) releaseTensors(rt, rows);
      }
    }
    const groups = [...new Set(recorder.groups.values())];
    const out = new Map<string, InputComponents>();
    for (const [index, group] of groups.entries()) {
      const k = Math.min(group.sums.inFeatures, Math.max(...group.members.map(options.components)));
      const components = await inputComponents(rt, group.sums, k, { niter: options.niter, exact: options.exact, seed: options.seed + index });
      for (const name of group.members) out.set(name, components);
      options.onProgress?.(index + 1, groups.length);
    }
    const missing = targets.find((name) => !out.has(name));
    if (missing) throw new Error(`${missing} received no input during calibration`);
    return out;
  } finally {
    recorder.release();
  }
}
