// Saved comparisons in the browser's IndexedDB (database "adapter-studio", object store "runs",
// key `id`), so runs survive a reload and can be reopened and overlaid on later ones
// (PRODUCT.md step 8). Records are plain RunRecords (runRecord.ts): curves, settings, summary
// inputs; never weights.
//
// Not here: deciding when to save (state/savedRunsStore.ts).

import { parseRunRecord, type RunRecord } from './runRecord';
import { errorMessage, InputError, InternalError, UnsupportedError } from '../errors';

const DB_NAME = 'adapter-studio';
const STORE = 'runs';
const VERSION = 1;

/** A run as the list shows it (no curves). */
export interface RunListing {
  readonly id: string;
  readonly name: string;
  readonly startedAt: number;
  readonly savedAt: number;
  readonly status: RunRecord['status'];
  readonly model: string;
  readonly dataset: string;
  readonly methods: readonly { readonly id: string; readonly label: string }[];
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new InternalError('IndexedDB request failed'));
  });
}

let opening: Promise<IDBDatabase> | undefined;

function open(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') return Promise.reject(new UnsupportedError('this browser has no IndexedDB; runs cannot be saved'));
  opening ??= new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, VERSION);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE, { keyPath: 'id' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new InternalError('IndexedDB could not be opened'));
    req.onblocked = () => reject(new InputError('IndexedDB is blocked by another tab of the studio; close it and reload'));
  }).catch((error: unknown) => {
    opening = undefined;
    throw error;
  });
  return opening;
}

async function store(mode: IDBTransactionMode): Promise<IDBObjectStore> {
  return (await open()).transaction(STORE, mode).objectStore(STORE);
}

export async function saveRun(run: RunRecord): Promise<void> {
  await request((await store('readwrite')).put(run));
}

/** The saved run, checked (parseRunRecord): a damaged record is a StudioError naming it, not a crash later. */
export async function getRun(id: string): Promise<RunRecord | undefined> {
  const value = (await request((await store('readonly')).get(id))) as unknown;
  return value === undefined ? undefined : parseRunRecord(value, `saved run '${id.length > 40 ? `${id.slice(0, 37)}...` : id}'`);
}

export async function deleteRun(id: string): Promise<void> {
  await request((await store('readwrite')).delete(id));
}

/** Saved runs, newest first; a damaged one is listed (so it can be deleted) with what is wrong in its name. */
export async function listRuns(): Promise<RunListing[]> {
  const all = (await request((await store('readonly')).getAll())) as unknown[];
  return all.map(runListing).sort((a, b) => b.savedAt - a.savedAt);
}

/** A stored value as the list shows it; never throws. */
export function runListing(value: unknown): RunListing {
  try {
    const { id, name, startedAt, savedAt, status, model, dataset, methods } = parseRunRecord(value);
    return { id, name, startedAt, savedAt, status, model, dataset, methods };
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
    };
  }
}
