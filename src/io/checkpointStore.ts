// The newest checkpoint of each studio run, in the browser's IndexedDB (database
// "adapter-studio-checkpoints", object store "checkpoints", key `runId`, the saved run's id), so a
// stopped, interrupted or closed run can resume. A checkpoint is the worker's StudioCheckpoint
// (io/checkpointFile.ts's manifest and safetensors bytes) with the run's id and when it was stored.
//
// Every write is one put in one readwrite transaction that replaces the run's previous
// checkpoint, and counts as done only when the transaction completes: the stored one is the old or
// the new, never a mix. A full quota becomes a StorageFullError with the sizes (storageQuota.ts).
// The storage is a parameter (CheckpointStorage) so the quota path is tested with a fake.

import { idbStore } from './idbStore';
import { storageFailure, type StorageManagerLike } from './storageQuota';
import { InputError } from '../errors';

const DB_NAME = 'adapter-studio-checkpoints';
const STORE = 'checkpoints';
const VERSION = 1;

const FREE_SPACE = 'Free space by deleting saved runs you no longer need (Saved runs) or models kept in this browser (Model); training goes on without it.';

export interface StoredCheckpoint {
  /** The saved run's id (RunRecord.id). */
  readonly runId: string;
  /** Steps done when it was taken. */
  readonly step: number;
  readonly manifest: string;
  readonly tensors: Uint8Array;
  readonly savedAt: number;
}

/** Where checkpoints live: IndexedDB in the page, a Map in tests. `put` is atomic and replaces the run's previous one. */
export interface CheckpointStorage {
  put(checkpoint: StoredCheckpoint): Promise<void>;
  get(runId: string): Promise<unknown>;
  delete(runId: string): Promise<void>;
  /** The runs that have a checkpoint (without reading them). */
  keys(): Promise<string[]>;
}

const transact = idbStore({ dbName: DB_NAME, store: STORE, version: VERSION, keyPath: 'runId', unavailable: 'checkpoints cannot be kept' });

let indexedDb: CheckpointStorage | undefined;

export function indexedDbCheckpoints(): CheckpointStorage {
  indexedDb ??= {
    put: async (checkpoint) => {
      await transact('readwrite', (store) => store.put(checkpoint));
    },
    get: (runId) => transact('readonly', (store) => store.get(runId) as IDBRequest<unknown>),
    delete: async (runId) => {
      await transact('readwrite', (store) => store.delete(runId));
    },
    keys: async () => (await transact('readonly', (store) => store.getAllKeys())).filter((k): k is string => typeof k === 'string'),
  };
  return indexedDb;
}

function checkpointBytes(c: StoredCheckpoint): number {
  return c.tensors.byteLength + new TextEncoder().encode(c.manifest).length;
}

/** Stores `checkpoint` as its run's newest, whole, or throws (StorageFullError when the quota is full) with the previous one kept. */
export async function saveCheckpoint(
  checkpoint: StoredCheckpoint,
  storage: CheckpointStorage = indexedDbCheckpoints(),
  manager?: StorageManagerLike,
): Promise<void> {
  try {
    await storage.put(checkpoint);
  } catch (error) {
    throw await storageFailure(error, `The checkpoint of step ${checkpoint.step}`, checkpointBytes(checkpoint), FREE_SPACE, manager);
  }
}

/** The run's newest checkpoint, or undefined; a stored value of another shape is refused, naming the run. */
export async function loadCheckpoint(runId: string, storage: CheckpointStorage = indexedDbCheckpoints()): Promise<StoredCheckpoint | undefined> {
  const value = await storage.get(runId);
  if (value === undefined) return undefined;
  const v = value as Partial<Record<keyof StoredCheckpoint, unknown>>;
  const ok =
    typeof value === 'object' &&
    value !== null &&
    v.runId === runId &&
    typeof v.step === 'number' &&
    Number.isSafeInteger(v.step) &&
    v.step > 0 &&
    typeof v.manifest === 'string' &&
    v.tensors instanceof Uint8Array &&
    typeof v.savedAt === 'number';
  if (!ok) throw new InputError(`the checkpoint stored for run '${runId}' is damaged; start the run again (its curves are kept in Saved runs)`);
  return value as StoredCheckpoint;
}

/** The ids of the runs that have a checkpoint stored. */
export function checkpointRunIds(storage: CheckpointStorage = indexedDbCheckpoints()): Promise<string[]> {
  return storage.keys();
}

export async function deleteCheckpoint(runId: string, storage: CheckpointStorage = indexedDbCheckpoints()): Promise<void> {
  await storage.delete(runId);
}
