// One method's training loop on the GPU: forward, cross-entropy on the counted targets,
// backward, global-norm clipping, AdamW, all recorded into one submission per step. The loss
// and the gradient norm are read back asynchronously: `step()` records the step and returns a
// promise for its metrics, so the next step can be recorded before the numbers arrive.
// The trainable set is whatever the caller passes (every parameter for full fine-tuning,
// adapter tensors otherwise); frozen tensors get no gradient and no optimizer state.

import type { TrainableTensor } from '../adapters/types';
import type { TokenBatch } from '../io/datasets';
import type { CausalLM } from '../models/causalLM';
import type { LinearLayer } from '../models/linearLayer';
import { scaleByScalar } from '../kernels/scalar';
import { Graph } from '../tensor/graph';
import type { Tensor } from '../tensor/tensor';
import { readTensor, targetIds, tokenIds, type Runtime } from '../tensor/values';
import { AdamW, type AdamWOptions } from './adamw';
import { clipGradNorm } from './clip';
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
  /** Before clipping; NaN when no clipping was asked. */
  readonly gradNorm: number;
  readonly lr: number;
  /** Tokens whose loss counted in this step. */
  readonly tokens: number;
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
    const tracker = rt.pool.trackPeak();
    try {
      const loss = this.forward(g, batch);
      g.backward(loss);
      const grads = this.trainable.flatMap((t) => (t.tensor.grad ? [t.tensor.grad] : []));
      const clip = this.options.clipNorm ? clipGradNorm(rt, grads, this.options.clipNorm) : undefined;
      if (this.target.afterBackward) {
        // Extra gradients (SORSA's regulariser) are added after clipping and are not clipped
        // themselves: apply the clip factor to the task gradients first.
        if (clip) for (const grad of grads) scaleByScalar(rt, grad, clip.scale);
        this.target.afterBackward(rt);
        this.optimizer.step(lr);
      } else {
        this.optimizer.step(lr, clip?.scale);
      }
      this.optimizer.zeroGrad();
      const lossValue = readTensor(rt, loss);
      const normValue = clip ? rt.read(clip.norm) : Promise.resolve(new Float32Array([Number.NaN]));
      if (clip) rt.release(clip.norm, clip.scale);
      return Promise.all([lossValue, normValue]).then(([l, n]) => ({ step, loss: l[0]!, gradNorm: n[0]!, lr, tokens }));
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

  destroy(): void {
    this.optimizer.destroy();
  }
}

function countedTokens(batch: Batch): number {
  let tokens = 0;
  for (let i = 0; i < batch.targets.length; i++) if (batch.targets[i]! >= 0) tokens++;
  return tokens;
}
