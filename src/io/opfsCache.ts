// Dropped model folders cached in the Origin Private File System (navigator.storage
// .getDirectory()), so a reload does not need the drag again (PRODUCT.md step 2). Layout:
//   models/<folder>/meta.json          { name, files: [{ path, size }], bytes, savedAt }
//   models/<folder>/files/<path…>      each file at its path inside the dropped folder
// meta.json is written last: a folder without it is an interrupted write and is removed.
// Writes stream each File into OPFS (createWritable), so a multi-GB model is never in memory.
// Only files a load can use are kept (worthCaching: config, weights, index, tokenizer files);
// READMEs, logs and pickles in the dropped folder are left out.
//
// Not here: loading the model (the cached Files go through the same worker call as a drop).

import { errorMessage, InputError, UnsupportedError } from '../errors';

export interface CachedFile {
  readonly path: string;
  readonly size: number;
}

export interface CachedModel {
  /** The model's name as the card shows it (the dropped folder's name). */
  readonly name: string;
  /** Folder name under models/. */
  readonly key: string;
  readonly files: readonly CachedFile[];
  readonly bytes: number;
  readonly savedAt: number;
}

const ROOT = 'models';
const META = 'meta.json';

/** Files a model load can use (config, weights, index, tokenizer); READMEs, logs and pickles are not kept. */
export function worthCaching(path: string): boolean {
  return /\.(json|safetensors|txt|model|jinja)$/i.test(path);
}

export function opfsAvailable(): boolean {
  return typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function';
}

/** A folder name safe on every file system, stable for a model name. */
export function cacheKey(name: string): string {
  return (
    name
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^\.+/, '_')
      .slice(0, 120) || 'model'
  );
}

async function modelsDir(): Promise<FileSystemDirectoryHandle> {
  if (!opfsAvailable()) throw new UnsupportedError('this browser has no Origin Private File System; models cannot be cached');
  return (await navigator.storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
}

function parts(path: string): string[] {
  const out = path.split('/').filter((p) => p !== '' && p !== '.');
  if (out.length === 0 || out.includes('..')) throw new InputError(`"${path}" is not a path inside the model folder`);
  return out;
}

async function fileHandle(dir: FileSystemDirectoryHandle, path: string, create: boolean): Promise<FileSystemFileHandle> {
  const segments = parts(path);
  let at = dir;
  for (const segment of segments.slice(0, -1)) at = await at.getDirectoryHandle(segment, { create });
  return at.getFileHandle(segments.at(-1)!, { create });
}

function describe(error: unknown): string {
  if (error instanceof DOMException && error.name === 'QuotaExceededError')
    return 'the browser storage quota is full (free space in the site settings or delete cached models)';
  return errorMessage(error);
}

/** Removes a cached model; no error when it is not there. */
export async function deleteCachedModel(key: string): Promise<void> {
  try {
    await (await modelsDir()).removeEntry(key, { recursive: true });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'NotFoundError') return;
    throw error;
  }
}

/**
 * Stores the files under models/<key>/ (replacing an earlier copy). On failure the partial copy is
 * removed and the error says why (quota full, no OPFS): callers show it and carry on.
 */
export async function cacheModelFiles(name: string, files: readonly { readonly path: string; readonly file: Blob }[]): Promise<CachedModel> {
  const key = cacheKey(name);
  const root = await modelsDir();
  await deleteCachedModel(key);
  try {
    const dir = await root.getDirectoryHandle(key, { create: true });
    const filesDir = await dir.getDirectoryHandle('files', { create: true });
    const listed: CachedFile[] = [];
    for (const f of files.filter((x) => worthCaching(x.path))) {
      const handle = await fileHandle(filesDir, f.path, true);
      const writable = await handle.createWritable();
      try {
        await f.file.stream().pipeTo(writable);
      } catch (error) {
        await writable.abort().catch(() => undefined);
        throw error;
      }
      listed.push({ path: f.path, size: f.file.size });
    }
    const model: CachedModel = { name, key, files: listed, bytes: listed.reduce((n, f) => n + f.size, 0), savedAt: Date.now() };
    const meta = await (await dir.getFileHandle(META, { create: true })).createWritable();
    await meta.write(JSON.stringify(model));
    await meta.close();
    return model;
  } catch (error) {
    await deleteCachedModel(key).catch(() => undefined);
    throw new UnsupportedError(`${name} could not be cached in the browser: ${describe(error)}. It is loaded; only the copy for the next visit is missing.`);
  }
}

/** Cached models, newest first. Interrupted copies (no meta.json) are removed. */
export async function listCachedModels(): Promise<CachedModel[]> {
  if (!opfsAvailable()) return [];
  const root = await modelsDir();
  const out: CachedModel[] = [];
  const broken: string[] = [];
  // entries() is in the spec and every OPFS browser, but not in TypeScript's DOM lib without DOM.AsyncIterable.
  const entries = (root as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries();
  for await (const [key, handle] of entries) {
    if (handle.kind !== 'directory') continue;
    try {
      const meta = await (await (handle as FileSystemDirectoryHandle).getFileHandle(META)).getFile();
      const model = JSON.parse(await meta.text()) as CachedModel;
      out.push({ ...model, key });
    } catch {
      broken.push(key);
    }
  }
  for (const key of broken) await deleteCachedModel(key).catch(() => undefined);
  return out.sort((a, b) => b.savedAt - a.savedAt);
}

/** The cached files as Files with their paths, ready for the same load as a drop. */
export async function cachedModelFiles(key: string): Promise<{ path: string; file: File }[]> {
  const dir = await (await modelsDir()).getDirectoryHandle(key);
  const meta = JSON.parse(await (await (await dir.getFileHandle(META)).getFile()).text()) as CachedModel;
  const filesDir = await dir.getDirectoryHandle('files');
  const out: { path: string; file: File }[] = [];
  for (const f of meta.files) out.push({ path: f.path, file: await (await fileHandle(filesDir, f.path, false)).getFile() });
  return out;
}

/** Bytes used and available to this origin, when the browser says. */
export async function storageEstimate(): Promise<{ usage: number; quota: number } | null> {
  if (typeof navigator === 'undefined' || !navigator.storage?.estimate) return null;
  const e = await navigator.storage.estimate();
  return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
}
