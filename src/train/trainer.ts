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
// Overlap (StepOptions.overlapped): a caller may record step n+1 before step n's metrics arrive
// (train/compare.ts's InterleavedRun). Step n then leaves a guard on the GPU that makes step n+1
// skip its update when step n's loss or norm was not finite (tensor/ops/stepGuard.ts), and
// discardLast() takes step n+1 back, so a method that stops at n holds exactly the state it
// would hold had n+1 never been recorded. Step n+1 records nothing else differently: its
// numbers are bit for bit those of a run that awaits every step.

import type { TrainableTensor } from '../adapters/types';
import type { TokenBatch } from '../io/datasets';
import type { CausalLM } from '../models/causalLM';
import type { LinearLayer } from '../models/linearLayer';
import { Graph } from '../tensor/graph';
import { scaleByScalar } from '../tensor/ops/optimizer';
import { applyGuard, finiteGuard } from '../tensor/ops/stepGuard';
import type { Tensor } from '../tensor/tensor';
import type { GpuTensor } from '../tensor/runtime';
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

export interface StepOptions {
  /**
   * The next step may be recorded before this one's metrics arrive: leave the guard that makes it
   * skip its update if this one comes back non-finite (see the header). Costs three dispatches on
   * [1] tensors.
   */
  readonly overlapped?: boolean;
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
  /**
   * The guard the last overlapped step left; the next step consumes it, whether or not its metrics
   * have arrived by then (the caller may have awaited something else meanwhile, and stops a method
   * only once it has looked at them).
   */
  private guard: GpuTensor | undefined;
  /** Whether the last step was guarded by the one before it, and which trainable tensors AdamW stepped in it. */
  private last: { readonly guarded: boolean; readonly stepped: readonly boolean[] } | undefined;

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

  /**
   * Records one optimizer step on `batch`; resolves with its metrics once they are read back. It
   * awaits nothing before its work is submitted (the reads submit it), so the caller may record
   * the next step at once; with `overlapped` that step is guarded by this one (see the header).
   */
  step(batch: Batch, options: StepOptions = {}): Promise<StepMetrics> {
    const { rt } = this;
    const step = this.stepIndex++;
    const lr = learningRate(this.options.schedule, step);
    const g = new Graph(rt);
    const tokens = countedTokens(batch);
    const tracker = rt.trackPeak();
    const prior = this.guard;
    this.guard = undefined;
    try {
      const loss = this.forward(g, batch);
      g.backward(loss);
      const stepped = this.trainable.map((t) => t.tensor.grad !== undefined);
      const grads = this.trainable.flatMap((t) => (t.tensor.grad ? [t.tensor.grad] : []));
      if (prior && grads.length > 0)
        applyGuard(
          rt,
          grads.reduce((a, b) => (b.size < a.size ? b : a)),
          prior,
        );
      this.last = { guarded: prior !== undefined, stepped };
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
      if (options.overlapped) this.guard = finiteGuard(rt, [loss.data, clip.norm]);
      rt.release(clip.norm, clip.scale);
      return Promise.all([lossValue, normValue]).then(([l, n]) => {
        const metrics: StepMetrics = { step, loss: l[0]!, gradNorm: clipping ? n[0]! : Number.NaN, lr, tokens };
        if (!Number.isFinite(metrics.loss)) return { ...metrics, nonFinite: 'loss' };
        return Number.isFinite(n[0]!) ? metrics : { ...metrics, nonFinite: 'gradient' };
      });
    } finally {
      if (prior) rt.release(prior);
      g.destroy();
      this.peak = Math.max(this.peak, tracker.stop());
    }
  }

  /**
   * Takes back the last recorded step, which an overlapped step before it guarded and which came
   * after a non-finite step, so the GPU skipped its update: the step count and the AdamW t of each
   * tensor it stepped go back by one (values, m and v are untouched). Call it after its metrics
   * arrived. The trainer then holds what it held after the non-finite step.
   */
  async discardLast(): Promise<void> {
    const last = this.last;
    if (!last?.guarded) throw new InternalError('Trainer.discardLast: the last step was not guarded by an overlapped step before it');
    this.last = undefined;
    const state = await this.readState();
    this.writeState({
      steps: state.steps - 1,
      tensors: state.tensors.map((t, i) => ({ ...t, adamSteps: last.stepped[i] ? t.adamSteps - 1 : t.adamSteps })),
    });
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
    this.rt.release(this.guard);
    this.guard = undefined;
    this.optimizer.destroy();
  }
}

function countedTokens(batch: Batch): number {
  let tokens = 0;
  for (let i = 0; i < batch.targets.length; i++) if (batch.targets[i]! >= 0) tokens++;
  return tokens;
}
