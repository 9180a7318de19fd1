// One IndexedDB object store in a database of its own: opened once per page (a failed open is
// retried at the next call), each request in its own transaction that resolves when the
// transaction completes and rejects when it aborts. Shared by the saved runs, the checkpoints and
// the matmul tuning tables.

import { InputError, InternalError, UnsupportedError } from '../errors';

export interface IdbStoreSpec {
  readonly dbName: string;
  readonly store: string;
  readonly version: number;
  /** In-line key path of the records; none: keys are given with each put. */
  readonly keyPath?: string;
  /** What is lost without IndexedDB, for the message ("runs cannot be saved"). */
  readonly unavailable: string;
}

export type IdbTransact = <T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>) => Promise<T>;

export function idbStore(spec: IdbStoreSpec): IdbTransact {
  let opening: Promise<IDBDatabase> | undefined;
  const open = (): Promise<IDBDatabase> => {
    if (typeof indexedDB === 'undefined') return Promise.reject(new UnsupportedError(`this browser has no IndexedDB; ${spec.unavailable}`));
    opening ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(spec.dbName, spec.version);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(spec.store)) req.result.createObjectStore(spec.store, spec.keyPath ? { keyPath: spec.keyPath } : undefined);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new InternalError('IndexedDB could not be opened'));
      req.onblocked = () => reject(new InputError('IndexedDB is blocked by another tab of the studio; close it and reload'));
    }).catch((error: unknown) => {
      opening = undefined;
      throw error;
    });
    return opening;
  };
  return async <T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const db = await open();
    return new Promise<T>((resolve, reject) => {
      try {
        const tx = db.transaction(spec.store, mode);
        const req = work(tx.objectStore(spec.store));
        tx.oncomplete = () => resolve(req.result);
        tx.onabort = () => reject(tx.error ?? req.error ?? new InternalError('the IndexedDB transaction was aborted'));
      } catch (error) {
        // put() throws at once for a value that cannot be cloned (DataCloneError).
        reject(error);
      }
    });
  };
}
