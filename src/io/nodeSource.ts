// Node implementation of ByteSource: reads byte ranges of a file on disk with fs/promises, so the
// CLI and tests stream big safetensors files the same way the browser streams a File. Each read
// opens, reads and closes the file (a handful of reads per tensor; no handle lifetime to manage).
// Browser code must not import this file.

import { open, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { checkRange, checkReadLength, type ByteSource } from './byteSource';
import { errorMessage, ModelFormatError, InputError } from '../errors';

/** A ByteSource for one file on disk. `name` defaults to the path as given. */
export async function nodeFileSource(path: string, name: string = path): Promise<ByteSource> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new InputError('not a regular file');
    size = info.size;
  } catch (error) {
    throw new ModelFormatError(`cannot open (${errorMessage(error)})`, name);
  }
  return {
    name,
    size,
    async read(offset, length) {
      checkRange(name, size, offset, length);
      const bytes = new Uint8Array(length);
      const handle = await open(path, 'r');
      try {
        let done = 0;
        // fs may return fewer bytes than asked; loop until the range is filled or the file ends.
        while (done < length) {
          const { bytesRead } = await handle.read(bytes, done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        checkReadLength(name, done, length, offset);
      } finally {
        await handle.close();
      }
      return bytes;
    },
  };
}

/**
 * Every regular file under `dir` as a ByteSource named by its path relative to `dir` with `/`
 * separators (as a browser folder drop names them). Descends `maxDepth` levels of subfolders,
 * skipping hidden ones (`.git`, `.cache`).
 */
export async function nodeDirectorySources(dir: string, maxDepth = 2): Promise<ByteSource[]> {
  const out: ByteSource[] = [];
  const walk = async (current: string, depth: number): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = join(current, entry.name);
      if (entry.isDirectory()) {
        if (depth < maxDepth) await walk(full, depth + 1);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        const name = relative(dir, full).split(sep).join('/');
        try {
          out.push(await nodeFileSource(full, name));
        } catch {
          // A dangling symlink or an unreadable entry is not part of the model; skip it.
        }
      }
    }
  };
  try {
    await walk(dir, 0);
  } catch (error) {
    throw new ModelFormatError(`cannot list the folder (${errorMessage(error)})`, dir);
  }
  return out;
}
