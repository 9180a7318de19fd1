// Test doubles for the browser's storage with a quota: an in-memory OPFS directory tree and an
// in-memory run store, both throwing DOMException QuotaExceededError as the browser does when a
// write would take the site past `quotaBytes`. Like OPFS, a file's writable commits on close and
// is dropped on abort; like IndexedDB, a put is all or nothing. Used by the io tests only.

import type { RunRecord } from './runRecord';
import type { RunStorage } from './runDb';
import { recordBytes } from './runDb';
import type { DirectoryLike, FileLike } from './opfsCache';
import type { StorageManagerLike } from './storageQuota';

function quotaError(): DOMException {
  return new DOMException('The quota has been exceeded.', 'QuotaExceededError');
}

function notFound(name: string): DOMException {
  return new DOMException(`A requested file or directory could not be found: ${name}`, 'NotFoundError');
}

class MemoryFile implements FileLike {
  readonly kind = 'file' as const;
  bytes = new Uint8Array(0);
  constructor(
    private readonly name: string,
    private readonly quota: { limit: number; used: () => number },
  ) {}

  createWritable(): Promise<WritableStream<Uint8Array>> {
    const chunks: Uint8Array[] = [];
    let pending = 0;
    return Promise.resolve(
      new WritableStream<Uint8Array>({
        write: (chunk) => {
          // The swap file counts against the quota while it is written.
          if (this.quota.used() + pending + chunk.byteLength > this.quota.limit) throw quotaError();
          chunks.push(chunk.slice());
          pending += chunk.byteLength;
        },
        close: () => {
          const out = new Uint8Array(pending);
          let at = 0;
          for (const c of chunks) {
            out.set(c, at);
            at += c.byteLength;
          }
          this.bytes = out;
        },
      }),
    );
  }

  getFile(): Promise<File> {
    return Promise.resolve(new File([this.bytes], this.name));
  }
}

class MemoryDirectory implements DirectoryLike {
  readonly kind = 'directory' as const;
  readonly children = new Map<string, MemoryDirectory | MemoryFile>();
  constructor(private readonly quota: { limit: number; used: () => number }) {}

  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryLike> {
    const child = this.children.get(name);
    if (child instanceof MemoryDirectory) return Promise.resolve(child);
    if (child) return Promise.reject(new DOMException(`${name} is a file`, 'TypeMismatchError'));
    if (!options?.create) return Promise.reject(notFound(name));
    const dir = new MemoryDirectory(this.quota);
    this.children.set(name, dir);
    return Promise.resolve(dir);
  }

  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileLike> {
    const child = this.children.get(name);
    if (child instanceof MemoryFile) return Promise.resolve(child);
    if (child) return Promise.reject(new DOMException(`${name} is a directory`, 'TypeMismatchError'));
    if (!options?.create) return Promise.reject(notFound(name));
    const file = new MemoryFile(name, this.quota);
    this.children.set(name, file);
    return Promise.resolve(file);
  }

  removeEntry(name: string): Promise<void> {
    if (!this.children.delete(name)) return Promise.reject(notFound(name));
    return Promise.resolve();
  }

  async *entries(): AsyncIterable<[string, { readonly kind: 'file' | 'directory' }]> {
    for (const [name, child] of [...this.children]) yield [name, child];
  }

  bytes(): number {
    let n = 0;
    for (const child of this.children.values()) n += child instanceof MemoryFile ? child.bytes.byteLength : child.bytes();
    return n;
  }

  /** Every file path under this directory, sorted ("models/x/meta.json"). */
  paths(prefix = ''): string[] {
    const out: string[] = [];
    for (const [name, child] of this.children) {
      if (child instanceof MemoryFile) out.push(`${prefix}${name}`);
      else out.push(...child.paths(`${prefix}${name}/`));
    }
    return out.sort();
  }
}

/** An empty in-memory OPFS root with a quota, and a storage manager reporting its usage. */
export function memoryDirectory(quotaBytes: number): { root: MemoryDirectory; manager: StorageManagerLike; quota: { limit: number } } {
  const quota = { limit: quotaBytes, used: (): number => root.bytes() };
  const root = new MemoryDirectory(quota);
  const manager: StorageManagerLike = { estimate: () => Promise.resolve({ usage: root.bytes(), quota: quota.limit }) };
  return { root, manager, quota };
}

/** An in-memory run store with a quota: a put that would pass it throws QuotaExceededError and stores nothing. */
export function memoryRunStorage(quotaBytes: number): { storage: RunStorage; records: Map<string, unknown>; manager: StorageManagerLike } {
  const records = new Map<string, unknown>();
  const used = () => [...records.values()].reduce((n: number, r) => n + recordBytes(r), 0);
  const storage: RunStorage = {
    put: (record: RunRecord) => {
      const previous = records.get(record.id);
      if (used() - (previous === undefined ? 0 : recordBytes(previous)) + recordBytes(record) > quotaBytes) return Promise.reject(quotaError());
      records.set(record.id, structuredClone(record));
      return Promise.resolve();
    },
    get: (id) => Promise.resolve(structuredClone(records.get(id))),
    delete: (id) => {
      records.delete(id);
      return Promise.resolve();
    },
    getAll: () => Promise.resolve([...records.values()].map((r) => structuredClone(r))),
  };
  const manager: StorageManagerLike = { estimate: () => Promise.resolve({ usage: used(), quota: quotaBytes }) };
  return { storage, records, manager };
}
