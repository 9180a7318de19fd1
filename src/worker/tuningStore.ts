// The matmul autotuner's tables in the browser (IndexedDB database "adapter-studio-tuning", one
// record per adapter), so the variants are timed once per adapter and not on every run. Reachable
// from the worker (which has IndexedDB but not localStorage). A failure to read or write only
// means tuning again next time: it never stops a run.

import type { MatmulVariant } from '../kernels/matmul';
import type { MatmulTuningStore } from '../kernels/matmulTuning';

const DB_NAME = 'adapter-studio-tuning';
const STORE = 'tables';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new DOMException('IndexedDB request failed'));
  });
}

function open(): Promise<IDBDatabase> {
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => {
    if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
  };
  return request(req);
}

/** The IndexedDB store, or undefined where there is no IndexedDB (tuning then lasts one context). */
export function indexedDbTuningStore(): MatmulTuningStore | undefined {
  if (typeof indexedDB === 'undefined') return undefined;
  return {
    async load(adapter) {
      try {
        const db = await open();
        try {
          const table: unknown = await request(db.transaction(STORE, 'readonly').objectStore(STORE).get(adapter));
          return table && typeof table === 'object' ? (table as Record<string, MatmulVariant>) : undefined;
        } finally {
          db.close();
        }
      } catch {
        return undefined;
      }
    },
    async save(adapter, table) {
      try {
        const db = await open();
        try {
          await request(
            db
              .transaction(STORE, 'readwrite')
              .objectStore(STORE)
              .put({ ...table }, adapter),
          );
        } finally {
          db.close();
        }
      } catch {
        // Not kept: the next run times the variants again.
      }
    },
  };
}
