import { describe, expect, it } from 'vitest';
import { getRun, listRuns, saveRun, updateRun } from './runDb';
import { parseRunRecord, runName, type RunRecord } from './runRecord';
import { StorageFullError } from './storageQuota';
import { memoryRunStorage } from './testStorage';

function record(id: string, steps: number): RunRecord {
  const points = Array.from({ length: steps }, (_, i) => ({ step: i + 1, loss: 3 - i / steps, gradNorm: 1, lr: 1e-3, tokens: 100, ms: 40 }));
  return {
    id,
    name: runName([{ label: 'LoRA' }], steps),
    startedAt: 1_700_000_000_000,
    savedAt: 1_700_000_000_000 + steps,
    status: 'done',
    model: 'm (built-in)',
    dataset: 'd (built-in)',
    modelInfo: { name: 'm (built-in)', fingerprint: 'f'.repeat(64), layers: 2, hidden: 16, vocab: 64 },
    dataInfo: { name: 'd (built-in)', hash: 'a'.repeat(64), train: 90, validation: 10 },
    params: { lr: 1e-3, steps, methods: [{ id: 'adapter', settings: { rank: 4 } }] },
    methods: [{ id: 'adapter', label: 'LoRA' }],
    series: { adapter: points },
    evals: {},
    ready: {},
    halted: {},
    accuracy: { adapter: 0 },
  };
}

describe('saved runs and the storage quota', () => {
  it('saves, lists with sizes, renames and annotates a run', async () => {
    const { storage } = memoryRunStorage(1 << 20);
    await saveRun(record('run-1', 3), storage);
    await saveRun(record('run-2', 5), storage);
    const list = await listRuns(storage);
    expect(list.map((r) => r.id)).toEqual(['run-2', 'run-1']);
    expect(list[0]!.bytes).toBeGreaterThan(500);
    expect(list[0]!.modelInfo?.fingerprint).toBe('f'.repeat(64));
    const renamed = await updateRun('run-1', { name: '  baseline  ', notes: 'rank 4, first try' }, storage);
    expect(renamed.name).toBe('baseline');
    expect(await getRun('run-1', storage)).toMatchObject({ name: 'baseline', notes: 'rank 4, first try', accuracy: { adapter: 0 } });
    await expect(updateRun('run-1', { name: '   ' }, storage)).rejects.toThrow(/needs a name/);
    await expect(updateRun('gone', { notes: 'x' }, storage)).rejects.toThrow(/is gone/);
  });

  it('refuses a run that does not fit with the sizes and how to free space, and keeps the records as they were', async () => {
    const small = recordBytesOf(record('run-1', 3));
    const { storage, records, manager } = memoryRunStorage(small + 2000);
    await saveRun(record('run-1', 3), storage, manager);
    const before = structuredClone([...records.entries()]);
    const big = record('run-2', 400);
    const error = await saveRun(big, storage, manager).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StorageFullError);
    const message = (error as Error).message;
    expect(message).toContain('The run "LoRA · 400 steps"');
    expect(message).toMatch(/\(\d+(\.\d+)? KiB\) could not be saved/);
    expect(message).toMatch(/of \d+(\.\d+)? KiB used/);
    expect(message).toContain('Nothing was half-written');
    expect(message).toContain('deleting saved runs');
    // Nothing of the refused run; the earlier one intact and still readable.
    expect([...records.entries()]).toEqual(before);
    expect(await getRun('run-2', storage)).toBeUndefined();
    expect(parseRunRecord(records.get('run-1')).series.adapter).toHaveLength(3);
    // A rename that would not fit either leaves the old record whole.
    await expect(updateRun('run-1', { notes: 'n'.repeat(5000) }, storage, manager)).rejects.toBeInstanceOf(StorageFullError);
    expect((await getRun('run-1', storage))?.notes).toBeUndefined();
  });

  it('passes other storage failures through with their own message', async () => {
    const { storage } = memoryRunStorage(1 << 20);
    const broken = { ...storage, put: () => Promise.reject(new DOMException('The database connection is closing.', 'InvalidStateError')) };
    await expect(saveRun(record('run-1', 2), broken)).rejects.toThrow('The database connection is closing.');
  });
});

function recordBytesOf(r: RunRecord): number {
  return new TextEncoder().encode(JSON.stringify(r)).length;
}
