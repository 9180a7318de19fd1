// Random-access byte sources: the one way io/ reads files, so a multi-GB model is never read whole.
// Implementations here work everywhere: in-memory bytes and browser Blob/File (the Node file
// implementation is in nodeSource.ts so browser bundles never import node:fs). Also small helpers
// to read a whole small file (config.json, an index) as bounded text or JSON.

import { errorMessage, ModelFormatError, formatBytes } from '../errors';
import { parseJsonText } from './json';

/** A file that can be read at any offset. `name` is a path relative to the dropped folder. */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes starting at `offset`; throws ModelFormatError if the range is outside. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Throws unless [offset, offset + length) lies inside a file of `size` bytes. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new ModelFormatError(
      `read of ${length} bytes at offset ${offset} is outside the file (${size} bytes); ` + `the file is truncated or its header is wrong`,
      name,
    );
  }
}

/** Throws when a read came back short: the file changed or was truncated while we read it. */
export function checkReadLength(name: string, got: number, wanted: number, offset: number): void {
  if (got !== wanted) {
    throw new ModelFormatError(
      `expected ${wanted} bytes at offset ${offset} but the file returned ${got}; ` + `was the file changed or truncated while loading? Pick it again.`,
      name,
    );
  }
}

/** A source over bytes already in memory. Reads return views (no copy); do not mutate them. */
export function bytesSource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    read(offset, length) {
      checkRange(name, bytes.byteLength, offset, length);
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
  };
}

/**
 * A source over a browser Blob or File. Only the requested slice is read. `name` defaults to the
 * File's `webkitRelativePath` (set when a folder is picked or dropped), else its `name`.
 */
export function blobSource(blob: Blob, name?: string): ByteSource {
  const file = blob as Partial<File>;
  const sourceName = name ?? (file.webkitRelativePath ? file.webkitRelativePath : undefined) ?? file.name ?? 'blob';
  return {
    name: sourceName,
    size: blob.size,
    async read(offset, length) {
      checkRange(sourceName, blob.size, offset, length);
      let buffer: ArrayBuffer;
      try {
        buffer = await blob.slice(offset, offset + length).arrayBuffer();
      } catch (error) {
        throw new ModelFormatError(
          `could not read the file (${errorMessage(error)}); ` + `if it was moved or changed after it was picked, pick it again`,
          sourceName,
        );
      }
      checkReadLength(sourceName, buffer.byteLength, length, offset);
      return new Uint8Array(buffer);
    },
  };
}

/** The bytes of `parts` one after another, in one new buffer. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Reads a whole (small) file, refusing files over `maxBytes` so a wrong pick cannot exhaust memory. */
export async function readAllBytes(source: ByteSource, maxBytes: number): Promise<Uint8Array> {
  if (source.size > maxBytes) {
    throw new ModelFormatError(`file is ${formatBytes(source.size)}, more than the ${formatBytes(maxBytes)} expected for this kind of file`, source.name);
  }
  return source.read(0, source.size);
}

/** Decodes strict UTF-8 (invalid sequences are an error, not U+FFFD). */
export function decodeUtf8(bytes: Uint8Array, fileName: string, what = 'file'): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ModelFormatError(`${what} is not valid UTF-8 text`, fileName);
  }
}

/** Reads and parses a small JSON file (depth-limited, json.ts); errors name the file and JSON's own complaint. */
export async function readJsonFile(source: ByteSource, maxBytes = 16 * 1024 * 1024): Promise<unknown> {
  const text = decodeUtf8(await readAllBytes(source, maxBytes), source.name);
  return parseJsonText(text, (reason) => new ModelFormatError(reason, source.name));
}

/** ByteSources for a browser FileList or File[] (a picked or dropped folder keeps its relative paths). */
export function blobSources(files: Iterable<File>): ByteSource[] {
  return Array.from(files, (file) => blobSource(file));
}
