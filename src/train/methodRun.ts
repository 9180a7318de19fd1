// Starting one method for training, as every host does it: its init (the registry's create() with
// the settings resolved), a Trainer over what it made, and what the hosts report about it: trainable
// parameters, bytes beyond the shared base, and the init time up to the GPU having finished it.

import { methodById } from '../adapters/registry';
import {
  resolveSettings,
  type AdaptedModel,
  type CreateContext,
  type MethodDefinition,
  type MethodId,
  type MethodSettings,
  type SettingValue,
} from '../adapters/types';
import type { Runtime } from '../tensor/values';
import type { Schedule } from './schedule';
import { Trainer } from './trainer';

/** What create() gets besides the runtime and the learning rate. */
export type MethodContext = Omit<CreateContext, 'rt' | 'learningRate'>;

export interface MethodStart {
  readonly id: string;
  /** The method itself when it is not in the registry (a loaded PEFT adapter); else looked up by id. */
  readonly definition?: MethodDefinition;
  readonly settings?: MethodSettings;
  /** The peak learning rate: the schedule's, and create()'s (LoRA-SB and SORSA use it). */
  readonly learningRate: number;
  /** Global gradient-norm clip; 0 or undefined: none. */
  readonly clipNorm?: number;
  readonly weightDecay?: number;
  /** Activation checkpointing in its training steps (TrainerOptions.checkpointing). */
  readonly checkpointing?: boolean;
}

export interface StartedMethod {
  readonly id: MethodId;
  /** How it was started (a checkpoint records it, and a resume must start it the same way). */
  readonly start: MethodStart;
  /** The settings with defaults filled in. */
  readonly settings: Readonly<Record<string, SettingValue>>;
  readonly adapted: AdaptedModel;
  readonly trainer: Trainer;
  readonly trainableParams: number;
  /** Adapter tensors, bases the method made for itself and optimizer state (the shared base not counted). */
  readonly bytes: number;
  readonly initMs: number;
  /** Destroys the trainer and releases the adapter. */
  readonly release: () => void;
}

/** Initialises a method and its trainer; the schedule's peak is `start.learningRate`. */
export async function startMethod(rt: Runtime, ctx: MethodContext, start: MethodStart, schedule: Omit<Schedule, 'peak'>): Promise<StartedMethod> {
  const method = start.definition ?? methodById(start.id);
  const begun = performance.now();
  const settings = resolveSettings(method, start.settings);
  const { model, targets, seed, calibration, onProgress, onLayerReady } = ctx;
  const adapted = await method.create({ rt, model, targets, seed, learningRate: start.learningRate, calibration, onProgress, onLayerReady }, settings);
  let trainer: Trainer | undefined;
  try {
    trainer = new Trainer(rt, adapted, {
      schedule: { ...schedule, peak: start.learningRate },
      clipNorm: start.clipNorm,
      weightDecay: start.weightDecay,
      checkpointing: start.checkpointing,
    });
    await rt.sync();
  } catch (error) {
    trainer?.destroy();
    adapted.release(rt);
    throw error;
  }
  return {
    id: method.id,
    start,
    settings,
    adapted,
    trainer,
    trainableParams: adapted.trainable.reduce((n, t) => n + t.tensor.data.size, 0),
    bytes: adapted.extraBytes + trainer.optimizerBytes(),
    initMs: performance.now() - begun,
    release: () => {
      trainer.destroy();
      adapted.release(rt);
    },
  };
}
