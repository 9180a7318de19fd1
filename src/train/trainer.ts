// One method's training loop on the GPU: forward, cross-entropy on the counted targets,
// backward, global-norm clipping, AdamW, all recorded into one submission per step. The loss
// and the gradient norm are read back asynchronously: `step()` records the step and returns a
// promise for its metrics, so the next step can be recorded before the numbers arrive.
// The trainable set is whatever the caller passes (every parameter for full fine-tuning,
// adapter tensors otherwise); frozen tensors get no gradient and no optimizer state.

import type { CausalLM } from '../models/causalLM';
import { Graph } from '../tensor/graph';
import { crossEntropy } from '../tensor/ops/crossEntropy';
import type { Tensor } from '../tensor/tensor';
import { readTensor, targetIds, tokenIds, type Runtime } from '../tensor/values';
import { AdamW, type AdamWOptions } from './adamw';
import { clipGradNorm } from './clip';
import { learningRate, type Schedule } from './schedule';

/** ids and next-token targets [B, T] row-major; targets −100 where the loss does not count. */
export interface Batch {
  readonly ids: ArrayLike<number>;
  readonly targets: ArrayLike<number>;
  readonly batchSize: number;
  readonly seqLen: number;
}

export interface TrainableTensor {
  readonly tensor: Tensor;
  readonly weightDecay: boolean;
}

export interface TrainerOptions extends AdamWOptions {
  readonly schedule: Schedule;
  /** Global gradient-norm clip; 0 or undefined: none. */
  readonly clipNorm?: number;
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

  constructor(
    readonly rt: Runtime,
    readonly model: CausalLM,
    readonly trainable: readonly TrainableTensor[],
    readonly options: TrainerOptions,
  ) {
    for (const t of trainable) t.tensor.requiresGrad = true;
    this.optimizer = new AdamW(rt, trainable, options);
  }

  get steps(): number {
    return this.stepIndex;
  }

  /** Records one optimizer step on `batch`; resolves with its metrics once they are read back. */
  step(batch: Batch): Promise<StepMetrics> {
    const { rt } = this;
    const step = this.stepIndex++;
    const lr = learningRate(this.options.schedule, step);
    const shape = [batch.batchSize, batch.seqLen];
    const g = new Graph(rt);
    let tokens = 0;
    for (let i = 0; i < batch.targets.length; i++) if (batch.targets[i]! >= 0) tokens++;
    try {
      const logits = this.model.forward(g, tokenIds(g, batch.ids, shape));
      const loss = crossEntropy(g, logits, targetIds(g, batch.targets, shape));
      g.backward(loss);
      const grads = this.trainable.flatMap((t) => (t.tensor.grad ? [t.tensor.grad] : []));
      const clip = this.options.clipNorm ? clipGradNorm(rt, grads, this.options.clipNorm) : undefined;
      this.optimizer.step(lr, clip?.scale);
      this.optimizer.zeroGrad();
      const lossValue = readTensor(rt, loss);
      const normValue = clip ? rt.read(clip.norm) : Promise.resolve(new Float32Array([Number.NaN]));
      if (clip) rt.release(clip.norm, clip.scale);
      return Promise.all([lossValue, normValue]).then(([l, n]) => ({ step, loss: l[0]!, gradNorm: n[0]!, lr, tokens }));
    } finally {
      g.destroy();
    }
  }

  /** Mean loss over batches without updating anything (validation). */
  async evaluate(batches: readonly Batch[]): Promise<number> {
    let total = 0;
    let counted = 0;
    for (const batch of batches) {
      const g = new Graph(this.rt, false);
      try {
        const shape = [batch.batchSize, batch.seqLen];
        const loss = crossEntropy(g, this.model.forward(g, tokenIds(g, batch.ids, shape)), targetIds(g, batch.targets, shape));
        let tokens = 0;
        for (let i = 0; i < batch.targets.length; i++) if (batch.targets[i]! >= 0) tokens++;
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
