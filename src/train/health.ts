// A method's training health: where a non-finite loss or gradient came from, and whether its loss
// is diverging.
//
// Non-finite (NaN or ±Inf). Detection is the trainer's, every step and cheap: the loss and the
// gradient norm it reads back anyway (StepMetrics.nonFinite). A non-finite norm also makes the GPU
// skip that step's update (clip.ts), so the method's state is still the one the bad step started
// from. diagnoseNonFinite then replays the step and names the first non-finite tensor, looking in
// the order the numbers were made:
//   1. optimizer state: a trainable tensor's values, then its AdamW m and v (an earlier update
//      overflowed: too high a learning rate);
//   2. forward activation: the input or the output of each projection in the order the forward
//      pass runs them (an input already non-finite points at an op between two projections:
//      embedding, norm, attention, the residual stream), then the loss (the LM head and the
//      cross-entropy);
//   3. gradient: each trainable tensor's gradient, nearest the loss first (backward order: the
//      first made); when all are finite, their squared norm overflowed f32, and the largest one
//      is named.
// The replay keeps every activation of one forward pass (no activation checkpointing: the
// outputs of checkpointed blocks would be gone before they could be read); it is one pass, once.
//
// Divergence. A loss that rises is flagged, not stopped (it may come back down): with the
// bias-corrected exponential moving average s_t of the loss (β = 0.9, about the last 10 steps),
// the method is diverging at step t when s has stayed above 1.5 × its lowest value so far for
// the last 20 steps. Smoothing ignores single noisy batches; 1.5× is far above the batch-to-batch
// spread of a healthy run's curve; 20 steps is long enough that a warm-up bump or an epoch
// boundary does not trigger it. The monitor's state is plain numbers, so checkpoints keep it.

import type { Batch, Trainer, TrainTarget } from './trainer';
import type { LinearLayer } from '../models/linearLayer';
import { Graph } from '../tensor/graph';
import type { Tensor } from '../tensor/tensor';
import { readTensor, targetIds, tokenIds, zeroGrads, type Runtime } from '../tensor/values';
import { errorKind, errorMessage } from '../errors';

export type NonFiniteSource = 'forward activation' | 'gradient' | 'optimizer state';

export interface NonFiniteReport {
  /** The update that failed, counted from 1. */
  readonly step: number;
  readonly source: NonFiniteSource;
  /** Module path of the projection (or the trainable tensor's owner); '' for the loss. */
  readonly layer: string;
  /** Which tensor: a trainable tensor's name (with "AdamW m of"/"AdamW v of"), or the projection's input or output. */
  readonly tensor: string;
  /** The first non-finite value found (NaN, Infinity, -Infinity), or the largest |g| when the norm overflowed. */
  readonly value: number;
  /** What was found, without the step: "the output of model.layers.0.mlp.up_proj holds Infinity while its input is finite (forward activation)". */
  readonly detail: string;
  /** For the user: the step, the detail, and what to try. */
  readonly message: string;
}

/** NonFiniteReport.message. */
export function nonFiniteMessage(step: number, detail: string): string {
  return `stopped at step ${step}: ${detail}. Its curve so far is kept; try a lower learning rate or gradient clipping.`;
}

function firstNonFinite(values: Float32Array): number | undefined {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return values[i]!;
  return undefined;
}

/** The projection that owns a trainable tensor: the adapted layer listing it, else its name without the last part (model.layers.0.mlp.up_proj.weight → model.layers.0.mlp.up_proj). */
function layerOf(target: TrainTarget, tensor: Tensor): string {
  for (const [name, layer] of target.linears ?? []) {
    const tensors = (layer as Partial<{ readonly tensors: readonly Tensor[] }>).tensors;
    if (tensors?.includes(tensor)) return name;
  }
  const dot = tensor.name.lastIndexOf('.');
  return dot > 0 ? tensor.name.slice(0, dot) : tensor.name;
}

function report(step: number, source: NonFiniteSource, layer: string, tensor: string, value: number, detail: string): NonFiniteReport {
  return { step, source, layer, tensor, value, detail, message: nonFiniteMessage(step, detail) };
}

/** 1. A non-finite value in a trainable tensor or its AdamW moments. */
async function inOptimizerState(trainer: Trainer, step: number): Promise<NonFiniteReport | undefined> {
  const state = await trainer.readState();
  for (const t of state.tensors) {
    const layer = layerOf(trainer.target, t.tensor);
    const parts: [string, Float32Array, string][] = [
      [t.tensor.name, t.value, 'an earlier update made it so'],
      [`AdamW m of ${t.tensor.name}`, t.m, 'the first moment of its gradients'],
      [`AdamW v of ${t.tensor.name}`, t.v, 'the second moment of its gradients'],
    ];
    for (const [tensor, values, why] of parts) {
      const bad = firstNonFinite(values);
      if (bad !== undefined) return report(step, 'optimizer state', layer, tensor, bad, `${tensor} in ${layer} holds ${bad} (optimizer state: ${why})`);
    }
  }
  return undefined;
}

interface ProjectionCall {
  readonly name: string;
  readonly input: Tensor;
  readonly output: Tensor;
}

/** 2. The forward pass replayed with every projection's input and output kept and checked in order, then the loss. */
async function inForward(rt: Runtime, target: TrainTarget, batch: Batch, step: number): Promise<NonFiniteReport | undefined> {
  const calls: ProjectionCall[] = [];
  const recording = new Map<string, LinearLayer>();
  for (const name of target.model.linearNames()) {
    const layer = target.linears?.get(name) ?? target.model.linear(name);
    recording.set(name, {
      name,
      inFeatures: layer.inFeatures,
      outFeatures: layer.outFeatures,
      forward(g, x) {
        const output = layer.forward(g, x);
        calls.push({ name, input: x, output });
        return output;
      },
    });
  }
  const g = new Graph(rt, false);
  try {
    const shape = [batch.batchSize, batch.seqLen];
    const loss = target.model.loss(g, tokenIds(g, batch.ids, shape), targetIds(g, batch.targets, shape), { linears: recording, checkpoint: false });
    const checked = new Set<Tensor>();
    for (const call of calls) {
      if (!checked.has(call.input)) {
        checked.add(call.input);
        const bad = firstNonFinite(await readTensor(rt, call.input));
        if (bad !== undefined) {
          return report(
            step,
            'forward activation',
            call.name,
            'input',
            bad,
            `the input of ${call.name} holds ${bad} (forward activation, made by an op before this projection: embedding, norm, attention or the residual sum)`,
          );
        }
      }
      const bad = firstNonFinite(await readTensor(rt, call.output));
      if (bad !== undefined) {
        return report(
          step,
          'forward activation',
          call.name,
          'output',
          bad,
          `the output of ${call.name} holds ${bad} while its input is finite (forward activation)`,
        );
      }
    }
    const [value] = await readTensor(rt, loss);
    if (Number.isFinite(value!)) return undefined;
    return report(
      step,
      'forward activation',
      '',
      'loss',
      value!,
      `the loss is ${value} while every projection's output is finite (forward activation: the LM head or the cross-entropy)`,
    );
  } finally {
    g.destroy();
  }
}

/** 3. Forward and backward replayed (with the method's extra gradients): the first non-finite gradient in backward order, else the largest. */
async function inGradients(rt: Runtime, trainer: Trainer, batch: Batch, step: number): Promise<NonFiniteReport | undefined> {
  const { target } = trainer;
  const tensors = trainer.trainable.map((t) => t.tensor);
  const g = new Graph(rt);
  try {
    const shape = [batch.batchSize, batch.seqLen];
    const loss = target.model.loss(g, tokenIds(g, batch.ids, shape), targetIds(g, batch.targets, shape), { linears: target.linears, checkpoint: false });
    g.backward(loss);
    target.afterBackward?.(rt);
    let largest = { tensor: undefined as Tensor | undefined, value: 0 };
    for (const tensor of [...tensors].reverse()) {
      if (!tensor.grad) continue;
      const grad = await rt.read(tensor.grad);
      const bad = firstNonFinite(grad);
      const layer = layerOf(target, tensor);
      if (bad !== undefined) return report(step, 'gradient', layer, tensor.name, bad, `the gradient of ${tensor.name} in ${layer} holds ${bad} (gradient)`);
      for (let i = 0; i < grad.length; i++) if (Math.abs(grad[i]!) > Math.abs(largest.value)) largest = { tensor, value: grad[i]! };
    }
    if (!largest.tensor) return undefined;
    const layer = layerOf(target, largest.tensor);
    return report(
      step,
      'gradient',
      layer,
      largest.tensor.name,
      largest.value,
      `every gradient is finite but the sum of their squares overflows f32 (the largest, ${largest.value.toExponential(2)}, is in ${largest.tensor.name} of ${layer}) (gradient)`,
    );
  } finally {
    zeroGrads(rt, tensors);
    g.destroy();
  }
}

/**
 * Why step `step` (counted from 1) of `trainer` came back non-finite (`kind`, from its metrics) on
 * `batch`: the first non-finite tensor, by name. Call it after the step's metrics arrived and
 * before another step is recorded on this trainer. A replay that fails for want of memory (or any
 * reason but the GPU itself, which would fail every method) still gives a report, saying so.
 */
export async function diagnoseNonFinite(rt: Runtime, trainer: Trainer, batch: Batch, step: number, kind: 'loss' | 'gradient'): Promise<NonFiniteReport> {
  const what = kind === 'loss' ? 'loss' : 'gradient norm';
  const fallback = kind === 'loss' ? 'forward activation' : 'gradient';
  try {
    const state = await inOptimizerState(trainer, step);
    if (state) return state;
    const forward = await inForward(rt, trainer.target, batch, step);
    if (forward) return forward;
    const gradient = await inGradients(rt, trainer, batch, step);
    if (gradient) return gradient;
  } catch (error) {
    if (errorKind(error) === 'gpu') throw error;
    return report(step, fallback, '', kind, Number.NaN, `the ${what} was not finite; replaying the step to find where failed (${errorMessage(error)})`);
  }
  return report(step, fallback, '', kind, Number.NaN, `the ${what} was not finite, but a replay of the step finds every tensor finite`);
}

// ---------------------------------------------------------------------------------------------
// Divergence

/** The rule (see the header): EMA factor, ratio to the smoothed minimum, steps it must hold. */
export const DIVERGENCE_RULE = { beta: 0.9, ratio: 1.5, patience: 20 } as const;

export interface DivergenceFlag {
  /** The step (from 1) at which the rule first held. */
  readonly step: number;
  /** The first step of the rise that made it hold. */
  readonly since: number;
  readonly smoothed: number;
  readonly minimum: number;
  readonly message: string;
}

function divergenceFlag(step: number, since: number, smoothed: number, minimum: number): DivergenceFlag {
  const { ratio } = DIVERGENCE_RULE;
  return {
    step,
    since,
    smoothed,
    minimum,
    message:
      `diverging since step ${since}: the smoothed loss ${smoothed.toFixed(4)} has stayed above ${ratio} × its minimum ` +
      `${minimum.toFixed(4)} for ${step - since + 1} steps; a lower learning rate may help`,
  };
}

/** Follows one method's loss, step by step (see the header). */
export class DivergenceMonitor {
  private ema = 0;
  private count = 0;
  private minimum = Infinity;
  private above = 0;
  private first: DivergenceFlag | undefined;

  /** Feeds the loss of step `step` (from 1); returns whether the method counts as diverging now. Non-finite losses are not fed (the method stops). */
  observe(step: number, loss: number): boolean {
    if (!Number.isFinite(loss)) return false;
    const { beta, ratio, patience } = DIVERGENCE_RULE;
    this.count++;
    this.ema = beta * this.ema + (1 - beta) * loss;
    const smoothed = this.ema / (1 - beta ** this.count);
    this.minimum = Math.min(this.minimum, smoothed);
    this.above = smoothed > ratio * this.minimum ? this.above + 1 : 0;
    const diverging = this.above >= patience;
    if (diverging && !this.first) {
      this.first = divergenceFlag(step, step - this.above + 1, smoothed, this.minimum);
    }
    return diverging;
  }

  /** The first time the rule held, if it has. */
  get flag(): DivergenceFlag | undefined {
    return this.first;
  }

  /** Plain numbers for a checkpoint (firstStep 0: never flagged). */
  state(): Record<string, number> {
    const f = this.first;
    return {
      ema: this.ema,
      count: this.count,
      minimum: this.minimum,
      above: this.above,
      firstStep: f?.step ?? 0,
      firstSince: f?.since ?? 0,
      firstSmoothed: f?.smoothed ?? 0,
      firstMinimum: f?.minimum ?? 0,
    };
  }

  /** Continues from a state() (a checkpoint's): the same flags follow as if the run had not stopped. */
  static fromState(state: Readonly<Record<string, number>>): DivergenceMonitor {
    const monitor = new DivergenceMonitor();
    monitor.ema = state.ema ?? 0;
    monitor.count = state.count ?? 0;
    monitor.minimum = state.minimum ?? Infinity;
    monitor.above = state.above ?? 0;
    if ((state.firstStep ?? 0) > 0) monitor.first = divergenceFlag(state.firstStep!, state.firstSince ?? 0, state.firstSmoothed ?? 0, state.firstMinimum ?? 0);
    return monitor;
  }
}
