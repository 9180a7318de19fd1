// The browser's storage for this site (IndexedDB and OPFS share one quota): how much is used and
// allowed (navigator.storage.estimate()), asking to keep it (persist()), and the error a write
// that hits the quota becomes, with the sizes and what to delete. Storage is passed in where it
// matters, so the quota path is tested with a fake that throws QuotaExceededError.

import { errorMessage, formatBytes, UnsupportedError } from '../errors';

export interface StorageUse {
  readonly usage: number;
  readonly quota: number;
}

/** The subset of navigator.storage used here. */
export interface StorageManagerLike {
  estimate?: () => Promise<{ usage?: number; quota?: number }>;
  persist?: () => Promise<boolean>;
  persisted?: () => Promise<boolean>;
}

function browserStorage(): StorageManagerLike | undefined {
  return typeof navigator === 'undefined' ? undefined : (navigator.storage as StorageManagerLike | undefined);
}

/** Bytes used and allowed for this site, or null when the browser does not say. Never throws. */
export async function storageUse(storage: StorageManagerLike | undefined = browserStorage()): Promise<StorageUse | null> {
  if (!storage?.estimate) return null;
  try {
    const e = await storage.estimate();
    return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
  } catch {
    return null;
  }
}

/**
 * Asks the browser not to evict this site's storage under pressure (granted silently in Chrome
 * for sites the user engages with; Firefox asks). True when granted, null when not supported.
 */
export async function requestPersistence(storage: StorageManagerLike | undefined = browserStorage()): Promise<boolean | null> {
  if (!storage?.persist) return null;
  try {
    if (storage.persisted && (await storage.persisted())) return true;
    return await storage.persist();
  } catch {
    return null;
  }
}

/** A write refused because the quota is full: DOMException QuotaExceededError (IndexedDB, OPFS), or Firefox's older name. */
export function isQuotaError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code } = error as { name?: unknown; code?: unknown };
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED' || code === 22;
}

/** A write that did not fit in the browser's storage; nothing of it was kept. */
export class StorageFullError extends UnsupportedError {
  override name = 'StorageFullError';
  constructor(
    readonly what: string,
    readonly neededBytes: number,
    readonly use: StorageUse | null,
    howToFree: string,
  ) {
    super(
      `${what} (${formatBytes(neededBytes)}) could not be saved: this site's browser storage is full` +
        (use && use.quota > 0 ? ` (${formatBytes(use.usage)} of ${formatBytes(use.quota)} used)` : '') +
        `. Nothing was half-written. ${howToFree}`,
    );
  }
}

/** A storage failure as the user reads it: quota errors become StorageFullError with the sizes; others keep their message. */
export async function storageFailure(
  error: unknown,
  what: string,
  neededBytes: number,
  howToFree: string,
  storage: StorageManagerLike | undefined = browserStorage(),
): Promise<Error> {
  if (isQuotaError(error)) return new StorageFullError(what, neededBytes, await storageUse(storage), howToFree);
  if (error instanceof Error) return error;
  return new UnsupportedError(`${what} could not be saved: ${errorMessage(error)}`);
}
