import { describe, expect, it } from 'vitest';
import { cachedDataFile, cachedModelFiles, cacheDataFile, cacheModelFiles, cleanInterrupted, deleteCachedModel, listCachedModels } from './opfsCache';
import { StorageFullError } from './storageQuota';
import { memoryDirectory } from './testStorage';

function folder(name: string, weightBytes: number, fill = 1): { path: string; file: Blob }[] {
  return [
    { path: `${name}/config.json`, file: new Blob(['{"model_type":"llama"}']) },
    { path: `${name}/model.safetensors`, file: new Blob([new Uint8Array(weightBytes).fill(fill)]) },
    { path: `${name}/README.md`, file: new Blob(['not kept']) },
  ];
}

async function text(files: { path: string; file: File }[], path: string): Promise<Uint8Array> {
  return new Uint8Array(await files.find((f) => f.path === path)!.file.arrayBuffer());
}

describe('models and data kept in OPFS', () => {
  it('keeps the loadable files of a folder, lists it and gives the files back', async () => {
    const { root } = memoryDirectory(1 << 20);
    const cached = await cacheModelFiles('tiny', folder('tiny', 1000), root);
    expect(cached).toMatchObject({ name: 'tiny', key: 'tiny', bytes: 1000 + 22 });
    expect((await listCachedModels(root)).map((m) => m.name)).toEqual(['tiny']);
    const files = await cachedModelFiles('tiny', root);
    expect(files.map((f) => f.path)).toEqual(['tiny/config.json', 'tiny/model.safetensors']);
    expect((await text(files, 'tiny/model.safetensors')).every((b) => b === 1)).toBe(true);
    await deleteCachedModel('tiny', root);
    expect(await listCachedModels(root)).toEqual([]);
  });

  it('a copy over the quota says the sizes and leaves nothing half-written; an earlier copy stays whole', async () => {
    const { root, manager } = memoryDirectory(5000);
    await cacheModelFiles('tiny', folder('tiny', 2000, 1), root, manager);
    const before = root.paths();
    // A newer copy of the same model that does not fit next to the first.
    const error = await cacheModelFiles('tiny', folder('tiny', 4000, 2), root, manager).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StorageFullError);
    const message = (error as Error).message;
    expect(message).toContain('A copy of tiny for the next visit (3.93 KiB) could not be saved');
    // What the first copy holds (its files and meta.json) of the 5000-byte quota.
    expect(message).toMatch(/\(2\.\d\d KiB of 4\.88 KiB used\)/);
    expect(message).toContain('The model is loaded');
    expect(message).toContain('deleting models kept in this browser');
    expect(root.paths()).toEqual(before);
    const files = await cachedModelFiles('tiny', root);
    expect((await text(files, 'tiny/model.safetensors')).every((b) => b === 1)).toBe(true);
    // A first copy that does not fit leaves no folder at all.
    await expect(cacheModelFiles('other', folder('other', 4000), root, manager)).rejects.toBeInstanceOf(StorageFullError);
    expect(root.paths().some((p) => p.startsWith('models/other'))).toBe(false);
    expect((await listCachedModels(root)).map((m) => m.name)).toEqual(['tiny']);
  });

  it('replaces a copy only once the new one is whole, then removes the old files', async () => {
    const { root } = memoryDirectory(1 << 20);
    await cacheModelFiles('tiny', folder('tiny', 100, 1), root);
    await cacheModelFiles('tiny', folder('tiny', 200, 2), root);
    const files = await cachedModelFiles('tiny', root);
    expect(await text(files, 'tiny/model.safetensors')).toEqual(new Uint8Array(200).fill(2));
    expect(root.paths().filter((p) => p.endsWith('model.safetensors'))).toHaveLength(1);
  });

  it('cleans what an interrupted write left: a folder without meta.json and files meta.json does not name', async () => {
    const { root } = memoryDirectory(1 << 20);
    await cacheModelFiles('tiny', folder('tiny', 100), root);
    const models = await root.getDirectoryHandle('models');
    const half = await (await models.getDirectoryHandle('half', { create: true })).getDirectoryHandle('v1', { create: true });
    await new Blob(['x']).stream().pipeTo(await (await half.getFileHandle('model.safetensors', { create: true })).createWritable());
    const stray = await (await models.getDirectoryHandle('tiny')).getDirectoryHandle('v0', { create: true });
    await new Blob(['y']).stream().pipeTo(await (await stray.getFileHandle('model.safetensors', { create: true })).createWritable());
    expect((await listCachedModels(root)).map((m) => m.name)).toEqual(['tiny']);
    await cleanInterrupted(root);
    expect(root.paths().filter((p) => p.startsWith('models/'))).toEqual(expect.arrayContaining(['models/tiny/meta.json']));
    expect(root.paths().some((p) => p.startsWith('models/half') || p.startsWith('models/tiny/v0/'))).toBe(false);
    expect(await cachedModelFiles('tiny', root)).toHaveLength(2);
  });

  it('keeps the last data file, swapping copies; a file over the quota keeps the previous one', async () => {
    const { root, manager } = memoryDirectory(3000);
    expect(await cachedDataFile(root)).toBeNull();
    await cacheDataFile(new File(['{"text":"a"}\n'], 'a.jsonl'), root, manager);
    await cacheDataFile(new File(['{"text":"b"}\n'], 'b.jsonl'), root, manager);
    let file = await cachedDataFile(root);
    expect(file?.name).toBe('b.jsonl');
    expect(await file?.text()).toBe('{"text":"b"}\n');
    expect(root.paths().filter((p) => p.startsWith('data/'))).toHaveLength(2);
    const error = await cacheDataFile(new File([new Uint8Array(4000)], 'big.csv'), root, manager).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StorageFullError);
    expect((error as Error).message).toContain('A copy of big.csv for the next visit (3.91 KiB)');
    file = await cachedDataFile(root);
    expect(file?.name).toBe('b.jsonl');
  });
});
