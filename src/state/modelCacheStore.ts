// Dropped model folders kept in the browser (OPFS, io/opfsCache.ts): a folder that loads is copied
// there (after asking the browser to keep the site's storage: navigator.storage.persist()), the
// list offers each cached model to load again or delete. Caching is a convenience: a failure
// (quota full, no OPFS) is shown with the sizes and never stops the model that did load.

import { create } from 'zustand';
import { cachedModelFiles, cacheModelFiles, deleteCachedModel, listCachedModels, opfsAvailable, type CachedModel } from '../io/opfsCache';
import { requestPersistence } from '../io/storageQuota';
import { useModelStore } from './modelStore';
import type { PickedFile } from '../worker/protocol';
import { errorMessage } from '../errors';

interface ModelCacheState {
  readonly available: boolean;
  readonly models: readonly CachedModel[];
  /** Name of the model being copied into the cache. */
  readonly caching: string | null;
  /** Why the last cache operation failed (the loaded model is unaffected). */
  readonly error: string | null;
  /** Whether the browser agreed to keep this site's storage under pressure (null: not asked or not supported). */
  readonly persisted: boolean | null;
  refresh: () => Promise<void>;
  /** Loads dropped or picked files; once they load, caches them under the card's name. */
  loadAndCache: (files: readonly PickedFile[]) => Promise<boolean>;
  loadCached: (key: string) => Promise<boolean>;
  remove: (key: string) => Promise<void>;
}

export const useModelCacheStore = create<ModelCacheState>()((set, get) => ({
  available: opfsAvailable(),
  models: [],
  caching: null,
  error: null,
  persisted: null,

  refresh: async () => {
    if (!get().available) return;
    try {
      set({ models: await listCachedModels() });
    } catch (error) {
      set({ error: `Cached models could not be listed: ${errorMessage(error)}` });
    }
  },
  loadAndCache: async (files) => {
    const ok = await useModelStore.getState().loadFiles(files);
    const card = useModelStore.getState().card;
    if (!ok || !card || card.builtin || !get().available) return ok;
    set({ caching: card.name, error: null });
    try {
      set({ persisted: await requestPersistence() });
      const cached = await cacheModelFiles(card.name, files);
      if (useModelStore.getState().card === card) useModelStore.setState({ origin: { kind: 'dropped', key: cached.key } });
    } catch (error) {
      set({ error: errorMessage(error) });
    } finally {
      set({ caching: null });
      await get().refresh();
    }
    return ok;
  },
  loadCached: async (key) => {
    set({ error: null });
    let files: PickedFile[];
    try {
      files = await cachedModelFiles(key);
    } catch (error) {
      set({ error: `The cached copy could not be read (${errorMessage(error)}); delete it and drop the folder again.` });
      await get().refresh();
      return false;
    }
    const ok = await useModelStore.getState().loadFiles(files);
    if (ok) useModelStore.setState({ origin: { kind: 'dropped', key } });
    return ok;
  },
  remove: async (key) => {
    try {
      await deleteCachedModel(key);
      const origin = useModelStore.getState().origin;
      if (origin?.kind === 'dropped' && origin.key === key) useModelStore.setState({ origin: { kind: 'dropped', key: null } });
    } catch (error) {
      set({ error: `The cached model could not be deleted: ${errorMessage(error)}` });
    }
    await get().refresh();
  },
}));
