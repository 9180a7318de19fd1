// One method's training loop on the GPU: forward, cross-entropy on the counted targets,
// backward, global-norm clipping, AdamW, all recorded into one submission per step. The loss
// and the gradient norm are read back asynchronously: `step()` records the step and returns a
// promise for its metrics, so the next step can be recorded before the numbers arrive.
// The trainable set is whatever the caller passes (every parameter for full fine-tuning,
// adapter tensors otherwise); frozen tensors get no gradient and no optimizer state.
// Health: every step computes the gradient norm (clipping or not: without clipping its maxNorm is
// NEVER_CLIP, a scale of exactly 1), and a non-finite norm makes the GPU skip that step's update
// (clip.ts, adamw.wgsl), so the state stays as it was before the bad step. The metrics say whether
// the loss or the gradient norm came back non-finite (`nonFinite`); the caller decides what then
// (train/health.ts diagnoses it). The state (trainable values, AdamW m, v and t, the step count)
// can be read and written for checkpoints (train/checkpoint.ts).

import type { TrainableTensor } from '../adapters/types';
import type { TokenBatch } from '../io/datasets';
import type { CausalLM } from '../models/causalLM';
import type { LinearLayer } from '../models/linearLayer';
import { Graph } from '../tensor/graph';
import { scaleByScalar } from '../tensor/ops/optimizer';
import type { Tensor } from '../tensor/tensor';
import { readTensor, targetIds, tokenIds, type Runtime } from '../tensor/values';
import { AdamW, type AdamWOptions } from './adamw';
import { clipGradNorm, NEVER_CLIP } from './clip';
import { InternalError } from '../errors';
import { learningRate, type Schedule } from './schedule';

/** ids and next-token targets [B, T] row-major; targets −100 where the loss does not count. */
export type Batch = TokenBatch;
export type { TrainableTensor };

/** What a trainer trains: a model, the projections a method put in place, the tensors that learn. */
export interface TrainTarget {
  readonly model: CausalLM;
  readonly linears?: ReadonlyMap<string, LinearLayer>;
  readonly trainable: readonly TrainableTensor[];
  /** Extra gradients added after clipping (SORSA's regulariser), given the step's peak lr. */
  readonly afterBackward?: (rt: Runtime) => void;
}

export interface TrainerOptions extends AdamWOptions {
  readonly schedule: Schedule;
  /** Global gradient-norm clip; 0 or undefined: none. */
  readonly clipNorm?: number;
  /** Recompute each block's activations in backward instead of keeping them (Graph.checkpoint). */
  readonly checkpointing?: boolean;
}

export interface StepMetrics {
  readonly step: number;
  readonly loss: number;
  /** Before clipping; NaN when no clipping was asked (the norm is still computed, for `nonFinite`). */
  readonly gradNorm: number;
  readonly lr: number;
  /** Tokens whose loss counted in this step. */
  readonly tokens: number;
  /** Set when the loss or the gradient norm (computed with or without clipping) is NaN or ±Inf; the update was then skipped if the norm was. */
  readonly nonFinite?: 'loss' | 'gradient';
}

/** One trainable tensor's state: its values and its AdamW m, v [n] and t. */
export interface TrainableState {
  readonly tensor: Tensor;
  readonly value: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  readonly adamSteps: number;
}

/** What a trainer has learned: its step count (the schedule's position) and every trainable tensor's state, in trainable order. */
export interface TrainerState {
  readonly steps: number;
  readonly tensors: readonly TrainableState[];
}

export class Trainer {
  private readonly optimizer: AdamW;
  private stepIndex = 0;
  private peak = 0;

  readonly trainable: readonly TrainableTensor[];

  constructor(
    readonly rt: Runtime,
    readonly target: TrainTarget,
    readonly options: TrainerOptions,
  ) {
    this.trainable = target.trainable;
    for (const t of this.trainable) t.tensor.requiresGrad = true;
    this.optimizer = new AdamW(rt, this.trainable, options);
  }

  private forward(g: Graph, batch: Batch): Tensor {
    const shape = [batch.batchSize, batch.seqLen];
    const options = { linears: this.target.linears, checkpoint: this.options.checkpointing ?? false };
    return this.target.model.loss(g, tokenIds(g, batch.ids, shape), targetIds(g, batch.targets, shape), options);
  }

  get steps(): number {
    return this.stepIndex;
  }

  /** Records one optimizer step on `batch`; resolves with its metrics once they are read back. */
  step(batch: Batch): Promise<StepMetrics> {
    const { rt } = this;
    const step = this.stepIndex++;
    const lr = learningRate(this.options.schedule, step);
    const g = new Graph(rt);
    const tokens = countedTokens(batch);
    const tracker = rt.trackPeak();
    try {
      const loss = this.forward(g, batch);
      g.backward(loss);
      const grads = this.trainable.flatMap((t) => (t.tensor.grad ? [t.tensor.grad] : []));
      const clipping = Boolean(this.options.clipNorm);
      const clip = clipGradNorm(rt, grads, clipping ? this.options.clipNorm! : NEVER_CLIP);
      if (this.target.afterBackward) {
        // Extra gradients (SORSA's regulariser) are added after clipping and are not clipped
        // themselves: apply the clip factor to the task gradients first; the step then reads the
        // scale only for the non-finite guard.
        if (clipping) for (const grad of grads) scaleByScalar(rt, grad, clip.scale);
        this.target.afterBackward(rt);
        this.optimizer.step(lr, clip.scale, { guardOnly: true });
      } else {
        this.optimizer.step(lr, clip.scale);
      }
      this.optimizer.zeroGrad();
      const lossValue = readTensor(rt, loss);
      const normValue = rt.read(clip.norm);
      rt.release(clip.norm, clip.scale);
      return Promise.all([lossValue, normValue]).then(([l, n]) => {
        const metrics: StepMetrics = { step, loss: l[0]!, gradNorm: clipping ? n[0]! : Number.NaN, lr, tokens };
        if (!Number.isFinite(metrics.loss)) return { ...metrics, nonFinite: 'loss' };
        return Number.isFinite(n[0]!) ? metrics : { ...metrics, nonFinite: 'gradient' };
      });
    } finally {
      g.destroy();
      this.peak = Math.max(this.peak, tracker.stop());
    }
  }

  /**
   * The GPU pool's highest live bytes during any step so far: everything live then (the shared
   * base, every method's own tensors and optimizer state, this step's activations), pool size
   * classes included.
   */
  get peakGpuBytes(): number {
    return this.peak;
  }

  /** Mean loss over batches without updating anything (validation). */
  async evaluate(batches: readonly Batch[]): Promise<number> {
    let total = 0;
    let counted = 0;
    for (const batch of batches) {
      const g = new Graph(this.rt, false);
      try {
        const loss = this.forward(g, batch);
        const tokens = countedTokens(batch);
        const [value] = await readTensor(this.rt, loss);
        total += value! * tokens;
        counted += tokens;
      } finally {
        g.destroy();
      }
    }
    return counted === 0 ? Number.NaN : total / counted;
  }

  /** Bytes of optimizer state (m and v). */
  optimizerBytes(): number {
    return this.optimizer.stateBytes();
  }

  /** Its state as host copies (after every recorded step has run). */
  async readState(): Promise<TrainerState> {
    const optimizer = await this.optimizer.readState();
    const tensors: TrainableState[] = [];
    for (const [i, { tensor }] of this.trainable.entries()) {
      const adam = optimizer[i]!;
      if (adam.tensor !== tensor) throw new InternalError(`Trainer.readState: optimizer parameter ${i} is "${adam.tensor.name}", not "${tensor.name}"`);
      tensors.push({ tensor, value: await readTensor(this.rt, tensor), m: adam.m, v: adam.v, adamSteps: adam.steps });
    }
    return { steps: this.stepIndex, tensors };
  }

  /** Puts a state back (values, m, v, t per tensor, in trainable order, and the step count); the next step continues from it. */
  writeState(state: { readonly steps: number; readonly tensors: readonly Omit<TrainableState, 'tensor'>[] }): void {
    if (state.tensors.length !== this.trainable.length) {
      throw new InternalError(`Trainer.writeState: ${state.tensors.length} tensors for ${this.trainable.length} trainable ones`);
    }
    this.trainable.forEach(({ tensor }, i) => this.rt.write(tensor.data, state.tensors[i]!.value));
    this.optimizer.writeState(state.tensors.map((t) => ({ m: t.m, v: t.v, steps: t.adamSteps })));
    this.stepIndex = state.steps;
  }

  destroy(): void {
    this.optimizer.destroy();
  }
}

function countedTokens(batch: Batch): number {
  let tokens = 0;
  for (let i = 0; i < batch.targets.length; i++) if (batch.targets[i]! >= 0) tokens++;
  return tokens;
}
