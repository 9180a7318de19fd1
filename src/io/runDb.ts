// Saved comparisons in the browser's IndexedDB (database "adapter-studio", object store "runs",
// key `id`), so runs survive a reload and can be reopened, renamed, annotated, diffed and
// overlaid on later ones (PRODUCT.md step 8). Records are plain RunRecords (runRecord.ts):
// curves, settings, identities, summary inputs; never weights.
//
// Every write is one put in one readwrite transaction, and counts as done only when the
// transaction completes (a quota error can abort it after the put's own request succeeded):
// a record is there whole or not at all. A full quota becomes a StorageFullError with the
// record's size and the site's usage. The storage is a parameter (RunStorage) so the quota path
// is tested with a fake; the page uses IndexedDB.
//
// Not here: deciding when to save (state/savedRunsStore.ts).

import { parseRunRecord, type RunRecord } from './runRecord';
import { idbStore } from './idbStore';
import { storageFailure, type StorageManagerLike } from './storageQuota';
import type { DataIdentity, ModelIdentity } from './runIdentity';
import { errorMessage, InputError } from '../errors';

const DB_NAME = 'adapter-studio';
const STORE = 'runs';
const VERSION = 1;

export const MAX_NAME_LENGTH = 200;
export const MAX_NOTES_LENGTH = 20_000;

const FREE_SPACE = 'Free space by deleting saved runs you no longer need (Saved runs) or models kept in this browser (Model), then save again.';

/** Where records live: IndexedDB in the page, a Map in tests. `put` is atomic: the record is stored whole, or the promise rejects and nothing changed. */
export interface RunStorage {
  put(record: RunRecord): Promise<void>;
  get(id: string): Promise<unknown>;
  delete(id: string): Promise<void>;
  getAll(): Promise<unknown[]>;
}

/** A run as the list shows it (no curves). */
export interface RunListing {
  readonly id: string;
  readonly name: string;
  readonly notes?: string;
  readonly startedAt: number;
  readonly savedAt: number;
  readonly status: RunRecord['status'];
  readonly model: string;
  readonly dataset: string;
  readonly modelInfo?: ModelIdentity;
  readonly dataInfo?: DataIdentity;
  readonly methods: readonly { readonly id: string; readonly label: string }[];
  /** About what the record takes in storage (its JSON's UTF-8 bytes). */
  readonly bytes: number;
}

/** About what a record takes in storage: its JSON as UTF-8. */
export function recordBytes(value: unknown): number {
  try {
    return new TextEncoder().encode(JSON.stringify(value) ?? '').length;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------
// IndexedDB

const transact = idbStore({ dbName: DB_NAME, store: STORE, version: VERSION, keyPath: 'id', unavailable: 'runs cannot be saved' });

let indexedDb: RunStorage | undefined;

/** The page's run storage (IndexedDB). */
export function indexedDbRuns(): RunStorage {
  indexedDb ??= {
    put: async (record) => {
      await transact('readwrite', (store) => store.put(record));
    },
    get: (id) => transact('readonly', (store) => store.get(id) as IDBRequest<unknown>),
    delete: async (id) => {
      await transact('readwrite', (store) => store.delete(id));
    },
    getAll: () => transact('readonly', (store) => store.getAll() as IDBRequest<unknown[]>),
  };
  return indexedDb;
}

// ---------------------------------------------------------------------------------------------
// Operations

/** Stores the run whole, or throws (StorageFullError when the quota is full) with nothing written. */
export async function saveRun(run: RunRecord, storage: RunStorage = indexedDbRuns(), manager?: StorageManagerLike): Promise<void> {
  try {
    await storage.put(run);
  } catch (error) {
    throw await storageFailure(error, `The run "${run.name}"`, recordBytes(run), FREE_SPACE, manager);
  }
}

function shortId(id: string): string {
  return id.length > 40 ? `${id.slice(0, 37)}...` : id;
}

/** The saved run, checked (parseRunRecord): a damaged record is a StudioError naming it, not a crash later. */
export async function getRun(id: string, storage: RunStorage = indexedDbRuns()): Promise<RunRecord | undefined> {
  const value = await storage.get(id);
  return value === undefined ? undefined : parseRunRecord(value, `saved run '${shortId(id)}'`);
}

/** Renames or annotates a saved run (one put of the whole record: the old or the new, never a mix). */
export async function updateRun(
  id: string,
  patch: { readonly name?: string; readonly notes?: string },
  storage: RunStorage = indexedDbRuns(),
  manager?: StorageManagerLike,
): Promise<RunRecord> {
  const run = await getRun(id, storage);
  if (!run) throw new InputError(`the saved run '${shortId(id)}' is gone (deleted in another tab?)`);
  const name = patch.name?.trim();
  if (name !== undefined && name === '') throw new InputError('a run needs a name: type at least one character');
  if (name !== undefined && name.length > MAX_NAME_LENGTH)
    throw new InputError(`a run name has at most ${MAX_NAME_LENGTH} characters (this one has ${name.length})`);
  if (patch.notes !== undefined && patch.notes.length > MAX_NOTES_LENGTH)
    throw new InputError(`notes have at most ${MAX_NOTES_LENGTH} characters (these have ${patch.notes.length}); shorten them`);
  const next: RunRecord = { ...run, ...(name !== undefined ? { name } : {}), ...(patch.notes !== undefined ? { notes: patch.notes } : {}) };
  await saveRun(next, storage, manager);
  return next;
}

export async function deleteRun(id: string, storage: RunStorage = indexedDbRuns()): Promise<void> {
  await storage.delete(id);
}

/** Saved runs, newest first; a damaged one is listed (so it can be deleted) with what is wrong in its name. */
export async function listRuns(storage: RunStorage = indexedDbRuns()): Promise<RunListing[]> {
  const all = await storage.getAll();
  return all.map(runListing).sort((a, b) => b.savedAt - a.savedAt);
}

/** A stored value as the list shows it; never throws. */
export function runListing(value: unknown): RunListing {
  const bytes = recordBytes(value);
  try {
    const { id, name, notes, startedAt, savedAt, status, model, dataset, modelInfo, dataInfo, methods } = parseRunRecord(value);
    return { id, name, notes, startedAt, savedAt, status, model, dataset, modelInfo, dataInfo, methods, bytes };
  } catch (error) {
    const id = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined;
    return {
      id: typeof id === 'string' ? id : typeof id === 'number' ? String(id) : '(no id)',
      name: `damaged saved run (${errorMessage(error)})`,
      startedAt: 0,
      savedAt: 0,
      status: 'failed',
      model: '',
      dataset: '',
      methods: [],
      bytes,
    };
  }
}
