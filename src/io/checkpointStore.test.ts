// The page's checkpoint store against an in-memory storage with a quota (like IndexedDB, a put is
// all or nothing): the newest checkpoint replaces the run's previous one, a checkpoint that does
// not fit is refused with the sizes and the previous one kept, and a damaged value is refused.

import { describe, expect, it } from 'vitest';
import { checkpointRunIds, deleteCheckpoint, loadCheckpoint, saveCheckpoint, type CheckpointStorage, type StoredCheckpoint } from './checkpointStore';
import { StorageFullError, type StorageManagerLike } from './storageQuota';

function memoryStorage(quotaBytes: number): { storage: CheckpointStorage; values: Map<string, unknown>; manager: StorageManagerLike } {
  const values = new Map<string, unknown>();
  const size = (v: unknown) => (v as StoredCheckpoint).tensors.byteLength;
  const used = () => [...values.values()].reduce((n: number, v) => n + size(v), 0);
  const storage: CheckpointStorage = {
    put: (c) => {
      const previous = values.get(c.runId);
      if (used() - (previous === undefined ? 0 : size(previous)) + size(c) > quotaBytes) {
        return Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'));
      }
      values.set(c.runId, structuredClone(c));
      return Promise.resolve();
    },
    get: (runId) => Promise.resolve(structuredClone(values.get(runId))),
    delete: (runId) => {
      values.delete(runId);
      return Promise.resolve();
    },
    keys: () => Promise.resolve([...values.keys()]),
  };
  return { storage, values, manager: { estimate: () => Promise.resolve({ usage: used(), quota: quotaBytes }) } };
}

function checkpoint(runId: string, step: number, bytes: number): StoredCheckpoint {
  const tensors = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) tensors[i] = (i * 31 + step) & 0xff;
  return { runId, step, manifest: `{"step":${step}}`, tensors, savedAt: 1_700_000_000_000 + step };
}

describe('checkpoint store', () => {
  it('keeps only the newest checkpoint of each run', async () => {
    const { storage, values } = memoryStorage(1 << 20);
    await saveCheckpoint(checkpoint('run-1', 2, 100), storage);
    await saveCheckpoint(checkpoint('run-2', 7, 33), storage);
    await saveCheckpoint(checkpoint('run-1', 4, 101), storage);
    expect(values.size).toBe(2);
    const newest = await loadCheckpoint('run-1', storage);
    expect(newest?.step).toBe(4);
    expect([...newest!.tensors]).toEqual([...checkpoint('run-1', 4, 101).tensors]);
    expect((await loadCheckpoint('run-2', storage))?.step).toBe(7);
    expect((await checkpointRunIds(storage)).sort()).toEqual(['run-1', 'run-2']);
    expect(await loadCheckpoint('run-3', storage)).toBeUndefined();
    await deleteCheckpoint('run-1', storage);
    expect(await loadCheckpoint('run-1', storage)).toBeUndefined();
  });

  it('refuses a checkpoint over the quota with the sizes, keeping the previous one whole', async () => {
    const { storage, manager } = memoryStorage(4096);
    await saveCheckpoint(checkpoint('run-1', 1, 1000), storage, manager);
    const error = await saveCheckpoint(checkpoint('run-1', 2, 5000), storage, manager).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StorageFullError);
    expect((error as Error).message).toContain('The checkpoint of step 2');
    expect((error as Error).message).toMatch(/KiB/);
    const kept = await loadCheckpoint('run-1', storage);
    expect(kept?.step).toBe(1);
    expect([...kept!.tensors]).toEqual([...checkpoint('run-1', 1, 1000).tensors]);
  });

  it('refuses a damaged stored value, naming the run', async () => {
    const { storage, values } = memoryStorage(1 << 20);
    values.set('run-9', { runId: 'run-9', step: 'three', manifest: '{}', tensors: new Uint8Array(1), savedAt: 0 });
    await expect(loadCheckpoint('run-9', storage)).rejects.toThrow(/checkpoint stored for run 'run-9' is damaged/);
  });
});
