// Tests for the Node ByteSource: ranged reads, range checks, a file shrinking under us, and
// listing a model directory with relative '/' names.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeDirectorySources, nodeFileSource } from './nodeSource';
import { ModelFormatError } from '../errors';

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'adapter-studio-io-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('nodeFileSource', () => {
  it('reads exactly the requested range', async () => {
    const path = join(dir, 'bytes.bin');
    await writeFile(
      path,
      Uint8Array.from({ length: 1000 }, (_, i) => i % 251),
    );
    const source = await nodeFileSource(path, 'bytes.bin');
    expect(source.size).toBe(1000);
    expect(source.name).toBe('bytes.bin');
    expect(Array.from(await source.read(500, 4))).toEqual([500 % 251, 501 % 251, 502 % 251, 503 % 251]);
    expect((await source.read(1000, 0)).length).toBe(0);
    await expect(source.read(998, 4)).rejects.toThrow(ModelFormatError);
    await expect(source.read(-1, 1)).rejects.toThrow(/outside the file/);
  });

  it('reports a file that shrank after it was opened', async () => {
    const path = join(dir, 'shrinks.bin');
    await writeFile(path, new Uint8Array(64));
    const source = await nodeFileSource(path);
    await truncate(path, 16);
    await expect(source.read(8, 32)).rejects.toThrow(/changed or truncated/);
  });

  it('says which path cannot be opened', async () => {
    await expect(nodeFileSource(join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: cannot open/);
  });
});

describe('nodeDirectorySources', () => {
  it('lists files with relative slash-separated names, skipping hidden folders', async () => {
    const model = join(dir, 'model');
    await mkdir(join(model, 'onnx'), { recursive: true });
    await mkdir(join(model, '.cache'), { recursive: true });
    await writeFile(join(model, 'config.json'), '{}');
    await writeFile(join(model, 'onnx', 'model.onnx'), 'x');
    await writeFile(join(model, '.cache', 'junk'), 'x');
    await writeFile(join(dir, 'target.txt'), 'hello');
    await symlink(join(dir, 'target.txt'), join(model, 'link.txt'));
    await symlink(join(dir, 'nowhere'), join(model, 'dangling'));
    const sources = await nodeDirectorySources(model);
    expect(sources.map((s) => s.name)).toEqual(['config.json', 'link.txt', 'onnx/model.onnx']);
    const link = sources.find((s) => s.name === 'link.txt')!;
    expect(new TextDecoder().decode(await link.read(0, link.size))).toBe('hello');
    expect((await nodeDirectorySources(model, 0)).map((s) => s.name)).toEqual(['config.json', 'link.txt']);
  });

  it('fails clearly on a missing folder', async () => {
    await expect(nodeDirectorySources(join(dir, 'nope'))).rejects.toThrow(/cannot list the folder/);
  });
});
