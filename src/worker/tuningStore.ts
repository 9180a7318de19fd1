// The matmul autotuner's tables in the browser (IndexedDB database "adapter-studio-tuning", one
// record per adapter), so the variants are timed once per adapter and not on every run. Reachable
// from the worker (which has IndexedDB but not localStorage). A failure to read or write only
// means tuning again next time: it never stops a run.

import type { MatmulVariant } from '../kernels/matmul';
import type { MatmulTuningStore } from '../kernels/matmulTuning';
import { idbStore } from '../io/idbStore';

const transact = idbStore({ dbName: 'adapter-studio-tuning', store: 'tables', version: 1, unavailable: 'matmul tuning is not kept' });

/** The IndexedDB store, or undefined where there is no IndexedDB (tuning then lasts one context). */
export function indexedDbTuningStore(): MatmulTuningStore | undefined {
  if (typeof indexedDB === 'undefined') return undefined;
  return {
    async load(adapter) {
      try {
        const table: unknown = await transact('readonly', (store) => store.get(adapter));
        return table && typeof table === 'object' ? (table as Record<string, MatmulVariant>) : undefined;
      } catch {
        return undefined;
      }
    },
    async save(adapter, table) {
      try {
        await transact('readwrite', (store) => store.put({ ...table }, adapter));
      } catch {
        // Not kept: the next run times the variants again.
      }
    },
  };
}
