// What `train` and `compare` share about GPU memory: the --checkpointing and --memory-budget flags,
// and the plan (train/memoryPlan.ts) checked after the shared model is on the GPU and before any
// method, optimizer state or activation is allocated. A run over the device's per-buffer limit, or
// over --memory-budget, is refused with the planned figure and the settings that would fit.
// WebGPU does not report a GPU's memory, so without --memory-budget only the per-buffer limit is
// checked.

import type { FlagSpec, ParsedArgs } from '../args';
import { StudioError } from '../../errors';
import type { GpuContext } from '../../gpu/context';
import type { CausalLM } from '../../models/causalLM';
import { fitProblem, modelPlanSetup, perBufferLimit, planMethod, planRun, type RunChoice, type RunMemoryPlan } from '../../train/memoryPlan';

export const MEMORY_FLAGS: Readonly<Record<string, FlagSpec>> = {
  checkpointing: {
    type: 'boolean',
    description: "recompute each block's activations in backward: much less memory for long sequences, one more forward pass per step",
  },
  'memory-budget': {
    type: 'number',
    value: 'GIB',
    above: 0,
    description: 'refuse a run planned over this much GPU memory, in GiB (default: only the per-buffer limit is checked)',
  },
};

export interface MemoryChoice {
  readonly checkpointing: boolean;
  /** --memory-budget in bytes, when given. */
  readonly budgetBytes?: number;
}

export function memoryChoice(args: ParsedArgs): MemoryChoice {
  const budget = args.number('memory-budget');
  return { checkpointing: args.bool('checkpointing'), ...(budget !== undefined ? { budgetBytes: Math.floor(budget * 1024 ** 3) } : {}) };
}

/** The plan of the chosen methods on the loaded model; throws a StudioError naming what would fit when it does not. */
export function checkRunMemory(
  rt: GpuContext,
  model: CausalLM,
  targets: readonly string[],
  choices: readonly RunChoice[],
  shape: { readonly batch: number; readonly seqLen: number },
  memory: MemoryChoice,
): RunMemoryPlan {
  const setup = modelPlanSetup(model, targets, shape, rt.device.limits);
  // train and compare load a run whose methods all keep a 4-bit base of their own with deferred projections (baseRelease.ts
  // defersProjections), and planRun counts exactly those runs deferred: the chosen run and each run the refusal suggests
  // (a 4-bit method instead of another, fewer methods) are planned as they would load.
  const runOptions = { deferProjections: true };
  const problem = fitProblem(setup, choices, memory.checkpointing, { perBuffer: perBufferLimit(rt.device.limits), totalBytes: memory.budgetBytes }, runOptions);
  if (problem) throw new StudioError(problem);
  return planRun(
    choices.map((c) => planMethod(setup, c.method, c.settings)),
    memory.checkpointing,
    runOptions,
  );
}
