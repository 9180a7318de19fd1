// Whether a run's trained weights can serve an action (generate, export): in the worker now, or
// rebuildable from the run's checkpoint once the run's model and data are loaded. One answer for
// every panel that needs the weights, with the reason when they cannot.

import { resumeProblem, useRunStore } from '../state/runStore';
import { useModelStore } from '../state/modelStore';
import { useDataStore } from '../state/dataStore';

export interface TrainedWeights {
  /** In the worker now. */
  readonly inMemory: boolean;
  /** The run's newest checkpoint, if one is kept. */
  readonly checkpointStep: number | null;
  /** Not in memory, but the checkpoint and the run's model and data are there: the first use rebuilds them. */
  readonly rebuildable: boolean;
  /** Why the weights cannot serve the action (undefined when they can). */
  readonly why: string | undefined;
}

/** `action` completes "… to <action>", e.g. "generate with this run's trained methods". */
export function useTrainedWeights(action: string, withoutCheckpoint: string): TrainedWeights {
  const inMemory = useRunStore((s) => s.weights);
  const checkpoint = useRunStore((s) => s.checkpoint);
  const record = useRunStore((s) => s.record);
  // Subscribed so that loading the run's model or data makes the weights rebuildable.
  const card = useModelStore((s) => s.card);
  const preview = useDataStore((s) => s.preview);
  const problem = record && card && preview ? resumeProblem(record, action) : 'Load the model and data the run was trained on.';
  const rebuildable = !inMemory && checkpoint !== null && problem === null;
  const why =
    inMemory || rebuildable
      ? undefined
      : checkpoint
        ? `This run's trained weights are not in memory but kept in its checkpoint (step ${checkpoint.step}). ${problem}`
        : `This run's trained weights are not in memory and no checkpoint of it is kept in this browser: ${withoutCheckpoint}`;
  return { inMemory, checkpointStep: checkpoint?.step ?? null, rebuildable, why };
}
