// Dropped model folders and the last dropped data file, kept in the Origin Private File System
// (navigator.storage.getDirectory()), so a reload does not need the drag again (PRODUCT.md
// step 2). Layout:
//   models/<key>/meta.json        { name, files: [{ path, size }], bytes, savedAt, dir }
//   models/<key>/<dir>/<path…>    each file at its path inside the dropped folder
//   data/meta.json                { name, size, savedAt, file }
//   data/<file>                   the data file's bytes
// Write then swap: a new copy goes into a fresh <dir> (or <file>); meta.json is rewritten last
// (createWritable commits a file atomically on close) and only then are older copies removed.
// So a write that fails, on a full quota or a closed tab, leaves the previous copy as it was and
// never a half-written one; cleanInterrupted() removes what an interrupted write left.
// Writes stream each File into OPFS, so a multi-GB model is never in memory. Only files a load can
// use are kept (worthCaching); READMEs, logs and pickles in the dropped folder are left out.
// The directory is a parameter (DirectoryLike), so the quota path is tested with an in-memory fake.
//
// Not here: loading the model (the cached Files go through the same worker call as a drop).

import { errorMessage, InputError, UnsupportedError } from '../errors';
import { isQuotaError, storageFailure, storageUse, type StorageManagerLike, type StorageUse } from './storageQuota';

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

export interface CachedData {
  readonly name: string;
  readonly size: number;
  readonly savedAt: number;
}

/** The subset of FileSystemDirectoryHandle used here (an in-memory fake implements it in tests). */
export interface DirectoryLike {
  readonly kind: 'directory';
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryLike>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileLike>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  entries(): AsyncIterable<[string, { readonly kind: 'file' | 'directory' }]>;
}

export interface FileLike {
  readonly kind: 'file';
  /** Writes go to a swap file, committed whole when the stream closes, dropped when it aborts. */
  createWritable(): Promise<WritableStream<Uint8Array>>;
  getFile(): Promise<File>;
}

const MODELS = 'models';
const DATA = 'data';
const META = 'meta.json';
/** Where copies made before write-then-swap keep their files. */
const LEGACY_DIR = 'files';

/** Files a model load can use (config, weights, index, tokenizer); READMEs, logs and pickles are not kept. */
export function worthCaching(path: string): boolean {
  return /\.(json|safetensors|txt|model|jinja)$/i.test(path);
}

export function opfsAvailable(): boolean {
  return typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function';
}

/** The page's OPFS root. */
export async function opfsRoot(): Promise<DirectoryLike> {
  if (!opfsAvailable()) throw new UnsupportedError('this browser has no Origin Private File System; models cannot be kept between visits');
  // entries() is in the spec and every OPFS browser, but not in TypeScript's DOM lib without DOM.AsyncIterable.
  return (await navigator.storage.getDirectory()) as unknown as DirectoryLike;
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

function parts(path: string): string[] {
  const out = path.split('/').filter((p) => p !== '' && p !== '.');
  if (out.length === 0 || out.includes('..')) throw new InputError(`"${path}" is not a path inside the model folder`);
  return out;
}

async function fileHandle(dir: DirectoryLike, path: string, create: boolean): Promise<FileLike> {
  const segments = parts(path);
  let at = dir;
  for (const segment of segments.slice(0, -1)) at = await at.getDirectoryHandle(segment, { create });
  return at.getFileHandle(segments.at(-1)!, { create });
}

/** Streams the blob into the file; the file holds all of it or (on failure) what it held before. */
async function writeBlob(file: FileLike, blob: Blob): Promise<void> {
  const writable = await file.createWritable();
  try {
    await blob.stream().pipeTo(writable);
  } catch (error) {
    await writable.abort().catch(() => undefined);
    throw error;
  }
}

async function readJson(dir: DirectoryLike, name: string): Promise<unknown> {
  return JSON.parse(await (await (await dir.getFileHandle(name)).getFile()).text()) as unknown;
}

async function removeQuietly(dir: DirectoryLike, name: string): Promise<void> {
  try {
    await dir.removeEntry(name, { recursive: true });
  } catch (error) {
    if (error instanceof Error && error.name === 'NotFoundError') return;
    throw error;
  }
}

/** Removes every entry of `dir` except those named. */
async function removeAllBut(dir: DirectoryLike, keep: readonly string[]): Promise<void> {
  const names: string[] = [];
  for await (const [name] of dir.entries()) if (!keep.includes(name)) names.push(name);
  for (const name of names) await removeQuietly(dir, name);
}

/** A name under `dir` that no entry uses yet: v<time>, v<time>-1, … */
async function freshName(dir: DirectoryLike): Promise<string> {
  const taken = new Set<string>();
  for await (const [name] of dir.entries()) taken.add(name);
  const base = `v${Date.now()}`;
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}-${i}`;
  return name;
}

interface ModelMeta extends CachedModel {
  /** The folder under models/<key>/ that holds this copy's files. */
  readonly dir: string;
}

function modelMeta(value: unknown, key: string): ModelMeta {
  const v = value as Partial<ModelMeta> | null;
  if (typeof v !== 'object' || v === null || typeof v.name !== 'string' || !Array.isArray(v.files)) throw new InputError(`models/${key}/meta.json is damaged`);
  const files = v.files.filter((f): f is CachedFile => typeof f?.path === 'string' && typeof f.size === 'number');
  return {
    name: v.name,
    key,
    files,
    bytes: typeof v.bytes === 'number' ? v.bytes : files.reduce((n, f) => n + f.size, 0),
    savedAt: typeof v.savedAt === 'number' ? v.savedAt : 0,
    dir: typeof v.dir === 'string' && v.dir !== META && !v.dir.includes('/') ? v.dir : LEGACY_DIR,
  };
}

async function modelsDir(root: DirectoryLike): Promise<DirectoryLike> {
  return root.getDirectoryHandle(MODELS, { create: true });
}

/** Removes a cached model; no error when it is not there. */
export async function deleteCachedModel(key: string, root?: DirectoryLike): Promise<void> {
  await removeQuietly(await modelsDir(root ?? (await opfsRoot())), key);
}

const MODEL_FREE_SPACE =
  'The model is loaded; only the copy for the next visit is missing. Free space by deleting models kept in this browser or saved runs, then drop the folder again.';

/**
 * Stores the files under models/<key>/ (replacing an earlier copy only once the new one is whole).
 * On failure nothing new is left and the earlier copy, if any, is untouched; the error says why
 * (StorageFullError with the sizes when the quota is full): callers show it and carry on.
 */
export async function cacheModelFiles(
  name: string,
  files: readonly { readonly path: string; readonly file: Blob }[],
  root?: DirectoryLike,
  manager?: StorageManagerLike,
): Promise<CachedModel> {
  const key = cacheKey(name);
  const kept = files.filter((x) => worthCaching(x.path));
  const bytes = kept.reduce((n, f) => n + f.file.size, 0);
  const models = await modelsDir(root ?? (await opfsRoot()));
  let dir: DirectoryLike | undefined;
  let version: string | undefined;
  let hadCopy = false;
  try {
    dir = await models.getDirectoryHandle(key, { create: true });
    hadCopy = await readJson(dir, META).then(
      () => true,
      () => false,
    );
    version = await freshName(dir);
    const filesDir = await dir.getDirectoryHandle(version, { create: true });
    for (const f of kept) await writeBlob(await fileHandle(filesDir, f.path, true), f.file);
    const meta: ModelMeta = { name, key, files: kept.map((f) => ({ path: f.path, size: f.file.size })), bytes, savedAt: Date.now(), dir: version };
    await writeBlob(await dir.getFileHandle(META, { create: true }), new Blob([JSON.stringify(meta)]));
  } catch (error) {
    if (dir && version) await removeQuietly(dir, version).catch(() => undefined);
    if (!hadCopy) await removeQuietly(models, key).catch(() => undefined);
    if (isQuotaError(error)) throw await storageFailure(error, `A copy of ${name} for the next visit`, bytes, MODEL_FREE_SPACE, manager);
    throw new UnsupportedError(`${name} could not be kept in the browser: ${errorMessage(error)}. It is loaded; only the copy for the next visit is missing.`);
  }
  await removeAllBut(dir, [META, version]).catch(() => undefined);
  return { name, key, files: kept.map((f) => ({ path: f.path, size: f.file.size })), bytes, savedAt: Date.now() };
}

/** Cached models, newest first. A folder without a readable meta.json (an interrupted first copy) is not listed. */
export async function listCachedModels(root?: DirectoryLike): Promise<CachedModel[]> {
  if (!root && !opfsAvailable()) return [];
  const models = await modelsDir(root ?? (await opfsRoot()));
  const out: CachedModel[] = [];
  for await (const [key, handle] of models.entries()) {
    if (handle.kind !== 'directory') continue;
    try {
      const { dir: _dir, ...model } = modelMeta(await readJson(await models.getDirectoryHandle(key), META), key);
      out.push(model);
    } catch {
      // Interrupted or damaged: cleanInterrupted() removes it.
    }
  }
  return out.sort((a, b) => b.savedAt - a.savedAt);
}

/** The cached files as Files with their paths, ready for the same load as a drop. */
export async function cachedModelFiles(key: string, root?: DirectoryLike): Promise<{ path: string; file: File }[]> {
  const dir = await (await modelsDir(root ?? (await opfsRoot()))).getDirectoryHandle(key);
  const meta = modelMeta(await readJson(dir, META), key);
  const filesDir = await dir.getDirectoryHandle(meta.dir);
  const out: { path: string; file: File }[] = [];
  for (const f of meta.files) out.push({ path: f.path, file: await (await fileHandle(filesDir, f.path, false)).getFile() });
  return out;
}

/**
 * Removes what interrupted writes left (a tab closed mid-copy): model folders without a readable
 * meta.json, and copies meta.json does not point to. Run once when the page opens, before any write.
 */
export async function cleanInterrupted(root?: DirectoryLike): Promise<void> {
  if (!root && !opfsAvailable()) return;
  const top = root ?? (await opfsRoot());
  const models = await modelsDir(top);
  const keys: string[] = [];
  for await (const [key, handle] of models.entries()) if (handle.kind === 'directory') keys.push(key);
  for (const key of keys) {
    const dir = await models.getDirectoryHandle(key);
    try {
      await removeAllBut(dir, [META, modelMeta(await readJson(dir, META), key).dir]);
    } catch {
      await removeQuietly(models, key);
    }
  }
  const data = await top.getDirectoryHandle(DATA, { create: true });
  try {
    await removeAllBut(data, [META, dataMeta(await readJson(data, META)).file]);
  } catch {
    await removeAllBut(data, []);
  }
}

// ---------------------------------------------------------------------------------------------
// The last dropped data file

interface DataMeta extends CachedData {
  readonly file: string;
}

function dataMeta(value: unknown): DataMeta {
  const v = value as Partial<DataMeta> | null;
  if (typeof v !== 'object' || v === null || typeof v.name !== 'string' || typeof v.file !== 'string' || v.file === META || v.file.includes('/'))
    throw new InputError('data/meta.json is damaged');
  return { name: v.name, size: typeof v.size === 'number' ? v.size : 0, savedAt: typeof v.savedAt === 'number' ? v.savedAt : 0, file: v.file };
}

/** Keeps `file` as the last data file (write then swap, like a model). */
export async function cacheDataFile(file: File, root?: DirectoryLike, manager?: StorageManagerLike): Promise<CachedData> {
  const data = await (root ?? (await opfsRoot())).getDirectoryHandle(DATA, { create: true });
  const version = await freshName(data);
  const meta: DataMeta = { name: file.name, size: file.size, savedAt: Date.now(), file: version };
  try {
    await writeBlob(await data.getFileHandle(version, { create: true }), file);
    await writeBlob(await data.getFileHandle(META, { create: true }), new Blob([JSON.stringify(meta)]));
  } catch (error) {
    await removeQuietly(data, version).catch(() => undefined);
    if (isQuotaError(error))
      throw await storageFailure(error, `A copy of ${file.name} for the next visit`, file.size, 'The data is loaded; drop it again after a reload.', manager);
    throw new UnsupportedError(`${file.name} could not be kept in the browser: ${errorMessage(error)}. It is loaded; drop it again after a reload.`);
  }
  await removeAllBut(data, [META, version]).catch(() => undefined);
  return { name: meta.name, size: meta.size, savedAt: meta.savedAt };
}

/** The last data file kept, or null when none (or it cannot be read). */
export async function cachedDataFile(root?: DirectoryLike): Promise<File | null> {
  if (!root && !opfsAvailable()) return null;
  try {
    const data = await (root ?? (await opfsRoot())).getDirectoryHandle(DATA);
    const meta = dataMeta(await readJson(data, META));
    const blob = await (await data.getFileHandle(meta.file)).getFile();
    return new File([blob], meta.name, { type: blob.type });
  } catch {
    return null;
  }
}

/** Bytes used and available to this origin, when the browser says. */
export async function storageEstimate(manager?: StorageManagerLike): Promise<StorageUse | null> {
  return storageUse(manager);
}
