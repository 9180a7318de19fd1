// Checkpoints of a studio comparison, worker side: what identifies the run (model, data, the
// settings that change the numbers), a capture turned into the bytes the page stores, and those
// bytes read back for a resume or to rebuild a run's trained methods (restoreParams). The GPU
// side is train/checkpoint.ts; the format io/checkpointFile.ts.

import { concatBytes, bytesSource } from '../io/byteSource';
import { encodeCheckpoint, readCheckpoint, sequencesFingerprint, type Checkpoint, type RunIdentity } from '../io/checkpointFile';
import type { TokenizedExample } from '../io/datasets';
import type { Runtime } from '../tensor/values';
import { captureCheckpoint } from '../train/checkpoint';
import type { InterleavedRun } from '../train/compare';
import { InputError } from '../errors';
import type { LoadedModel } from './studioModel';
import type { ComparisonParams, StudioCheckpoint } from './protocol';

/** How the page's stored checkpoint is named in messages. */
export const STORED_CHECKPOINT = 'the saved checkpoint';

export function studioRunIdentity(loaded: LoadedModel, train: readonly TokenizedExample[], params: ComparisonParams): RunIdentity {
  if (!loaded.card.fingerprint)
    throw new InputError(`${loaded.name} has no weights fingerprint, so a checkpoint could not be matched to it; load the model again`);
  return {
    model: { name: loaded.name, fingerprint: loaded.card.fingerprint },
    data: { name: 'training data', fingerprint: sequencesFingerprint(train), trainExamples: train.length },
    seed: params.seed,
    steps: params.steps,
    settings: {
      precision: loaded.origin.precision,
      targets: params.targets.join(','),
      lr: params.lr,
      schedule: params.schedule,
      warmup: params.warmup,
      batch: params.batch,
      seqLen: params.seqLen,
      evalEvery: params.evalEvery,
      clipNorm: params.clipNorm,
      validationRows: params.validationRows,
      validationFraction: params.validationFraction,
      ...(params.packing ? { packing: true } : {}),
    },
  };
}

/** The state of `run` after `step` updates, as the bytes the page stores. */
export async function captureStudioCheckpoint<T>(rt: Runtime, run: InterleavedRun<T>, identity: RunIdentity, step: number): Promise<StudioCheckpoint> {
  const captured = await captureCheckpoint(rt, run, { identity, step });
  const encoded = encodeCheckpoint(captured.draft, captured.tensors);
  return { step, manifest: encoded.manifest, tensors: concatBytes(encoded.tensors) };
}

/** Reads a stored checkpoint back; refuses (InputError, ModelFormatError) one that is damaged. */
export function readStudioCheckpoint(stored: StudioCheckpoint): Promise<Checkpoint> {
  return readCheckpoint(new TextEncoder().encode(stored.manifest), STORED_CHECKPOINT, bytesSource(`${STORED_CHECKPOINT} (tensors)`, stored.tensors));
}

/**
 * The settings that rebuild the methods of `checkpoint` (taken in the run started with `params`)
 * without training: resumed from it, with its own seed as the run's last, and nothing measured,
 * sampled or checkpointed after the restore.
 */
export async function restoreParams(params: ComparisonParams, checkpoint: StudioCheckpoint): Promise<ComparisonParams> {
  const { manifest } = await readStudioCheckpoint(checkpoint);
  const seedIndex = manifest.run.seed - params.seed;
  return {
    ...params,
    resumeFrom: checkpoint,
    seeds: Math.max(1, seedIndex + 1),
    accuracyQuestions: 0,
    forgetting: undefined,
    checkpointEvery: 0,
    samplesOn: false,
  };
}
