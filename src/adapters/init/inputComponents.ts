// EVA's calibration: the principal components of every target projection's INPUT activations
// over a few training batches (linalg/inputScatter.ts has the math). Each target's input, as the
// shared model runs forward (captureInputs.ts), is added to running sums. Projections that read
// the very same tensor (q, k, v; gate, up) share one set of sums and one decomposition, as PEFT's
// EVA shares one SVD hook among layers whose inputs hash equal (eva.py HashHook); here "the same"
// is the same tensor object within a forward pass.
// Tokens: with `labelMask`, only positions whose own label counts, as PEFT's
// prepare_model_inputs_fn_language_modeling keeps labels != -100. PEFT's labels are the unshifted
// token ids, ours are next-token targets, so position p of a row counts when p ≥ 1 and
// targets[p − 1] ≠ −100. Without it every position is used (the studio's batches carry no
// attention mask, so padding is included).
// Memory: each shared input holds S [in, in] until it is decomposed (a Llama layer: three of
// C² and one of I²). Sums beyond a byte budget are not allocated in the first pass over the
// batches; later passes accumulate them a budget's worth at a time, after the earlier ones were
// decomposed and released, so wide models cost more forward passes rather than more memory.

import type { CausalLM } from '../../models/causalLM';
import {
  accumulateInputScatter,
  inputComponents,
  inputScatter,
  releaseInputScatter,
  type ComponentOptions,
  type InputComponents,
  type InputScatter,
} from '../../linalg/inputScatter';
import { Tensor } from '../../tensor/tensor';
import { releaseTensors, type Runtime } from '../../tensor/values';
import type { CalibrationBatch } from '../types';
import { InputCapture } from './captureInputs';
import { InputError, InternalError } from '../../errors';

export type { InputComponents } from '../../linalg/inputScatter';

interface Group {
  readonly inFeatures: number;
  readonly members: string[];
  /** The running sums while this group is being accumulated (its pass), else undefined. */
  sums: InputScatter | undefined;
  /** The batch this group last accumulated (each input is counted once per forward pass). */
  batch: number;
}

/** Bytes of one group's sums: S [in, in], s and the shift [in]. */
function groupBytes(inFeatures: number): number {
  return 4 * (inFeatures * inFeatures + 2 * inFeatures);
}

class Recorder {
  readonly groupOf = new Map<string, Group>();
  /** Groups in the order the forward pass first reaches them. */
  readonly order: Group[] = [];
  /** Inputs seen in the current batch → their group (finds projections that share one). */
  private seen = new Map<Tensor, Group>();
  private batch = -1;
  private rows: Tensor | undefined;
  /** While set (the first batch of the first pass), a new group gets sums if they fit `budget`. */
  allocating = false;
  allocated = 0;

  constructor(
    readonly rt: Runtime,
    readonly budget: number,
  ) {}

  startBatch(index: number, rows: Tensor | undefined): void {
    this.batch = index;
    this.rows = rows;
    this.seen = new Map();
  }

  allocate(group: Group, name: string): void {
    group.sums = inputScatter(this.rt, group.inFeatures, name);
    group.batch = -1;
    this.allocated += groupBytes(group.inFeatures);
  }

  record(name: string, inFeatures: number, x: Tensor): void {
    let group = this.groupOf.get(name);
    if (!group) {
      group = this.seen.get(x);
      if (!group) {
        group = { inFeatures, members: [], sums: undefined, batch: -1 };
        this.order.push(group);
        if (this.allocating && (this.allocated === 0 || this.allocated + groupBytes(inFeatures) <= this.budget)) this.allocate(group, name);
      }
      group.members.push(name);
      this.groupOf.set(name, group);
    }
    this.seen.set(x, group);
    if (!group.sums || group.batch === this.batch) return;
    group.batch = this.batch;
    accumulateInputScatter(this.rt, group.sums, x, this.rows);
  }

  releaseSums(group: Group): void {
    if (!group.sums) return;
    releaseInputScatter(this.rt, group.sums);
    group.sums = undefined;
    this.allocated -= groupBytes(group.inFeatures);
  }

  release(): void {
    for (const group of this.order) this.releaseSums(group);
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

/** Default bound on the sums held at once (S is in² floats per shared input). */
export const INPUT_SCATTER_BUDGET_BYTES = 512 * 2 ** 20;

export interface InputComponentOptions extends ComponentOptions {
  /** Components wanted for a projection; projections sharing an input get their largest. */
  readonly components: (name: string) => number;
  readonly labelMask: boolean;
  /**
   * Most bytes of sums held at once (default INPUT_SCATTER_BUDGET_BYTES). Inputs beyond it are
   * accumulated in further passes over the batches, each after the previous ones' sums are
   * decomposed and released: the same results for more forward passes (none extra if all fit).
   */
  readonly budgetBytes?: number;
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
  const positions = batches.map((batch) => (options.labelMask ? labelledPositions(batch) : undefined));
  if (options.labelMask && positions.every((p) => p!.length === 0)) {
    throw new InputError('none of the calibration batches has a token whose label counts for the loss; turn off "Completion tokens only" or use other batches');
  }
  const recorder = new Recorder(rt, options.budgetBytes ?? INPUT_SCATTER_BUDGET_BYTES);
  const capture = new InputCapture(rt, model, targets, (target, x) => recorder.record(target.name, target.inFeatures, x));
  const pass = async (first: boolean): Promise<void> => {
    for (const [index, batch] of batches.entries()) {
      const p = positions[index];
      const rows = p ? Tensor.leaf(rt.upload(p, [p.length], 'u32', 'calibration positions'), false, 'calibration positions') : undefined;
      recorder.startBatch(index, rows);
      recorder.allocating = first && index === 0;
      try {
        await capture.forward(batch.ids, [batch.batchSize, batch.seqLen]);
      } finally {
        if (rows) releaseTensors(rt, rows);
        recorder.allocating = false;
      }
    }
  };
  const out = new Map<string, InputComponents>();
  let done = 0;
  const decompose = async (group: Group): Promise<void> => {
    const index = recorder.order.indexOf(group);
    const k = Math.min(group.inFeatures, Math.max(...group.members.map(options.components)));
    const components = await inputComponents(rt, group.sums!, k, { niter: options.niter, exact: options.exact, seed: options.seed + index });
    recorder.releaseSums(group);
    for (const name of group.members) out.set(name, components);
    options.onProgress?.(++done, recorder.order.length);
  };
  try {
    await pass(true);
    for (const group of recorder.order.filter((g) => g.sums)) await decompose(group);
    // The inputs that did not fit: one more pass over the batches per budget's worth of them.
    let pending = recorder.order.filter((g) => !out.has(g.members[0]!));
    while (pending.length > 0) {
      for (const group of pending) {
        if (recorder.allocated > 0 && recorder.allocated + groupBytes(group.inFeatures) > recorder.budget) break;
        recorder.allocate(group, group.members[0]!);
      }
      await pass(false);
      for (const group of pending.filter((g) => g.sums)) await decompose(group);
      pending = pending.filter((g) => !out.has(g.members[0]!));
    }
    const missing = targets.find((name) => !out.has(name));
    if (missing) throw new InternalError(`${missing} received no input during calibration`);
    return out;
  } finally {
    recorder.release();
  }
}
