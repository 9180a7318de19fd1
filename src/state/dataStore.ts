// The training data: the built-in math set or a dropped file, as the worker previews it
// (first rows with their tokens, counts, skipped rows with reasons, split sizes, a hash of the
// text). A file that cannot be used leaves the previous data in place and shows why. A dropped
// file that loads is kept in the browser (OPFS, io/opfsCache.ts) so a reload can load it again;
// `source` says where the current data came from, for the workspace a reload restores.

import { create } from 'zustand';
import { engineClient } from './engineStore';
import { useSettingsStore } from './settingsStore';
import { cacheDataFile, opfsAvailable } from '../io/opfsCache';
import type { DatasetParams, DatasetPreview } from '../worker/protocol';
import { errorMessage } from '../errors';

export const BUILTIN_DATASETS = [
  { id: 'math', label: 'Math word problems' },
  { id: 'words', label: 'Word instructions' },
  { id: 'arithmetic', label: 'Arithmetic in words' },
  { id: 'verses', label: 'KJV verse endings' },
] as const;

export type DataSource = { readonly kind: 'builtin'; readonly id: string } | { readonly kind: 'file'; readonly name: string };

interface DataState {
  readonly preview: DatasetPreview | null;
  readonly loading: string | null;
  readonly error: { readonly what: string; readonly message: string } | null;
  /** Where the current data came from. */
  readonly source: DataSource | null;
  /** Name of the dropped file kept in OPFS for the next visit, if any. */
  readonly keptFile: string | null;
  /** Why the dropped file could not be kept (it is loaded all the same). */
  readonly keepError: string | null;
  loadBuiltin: (name: string, params: DatasetParams) => Promise<void>;
  /** `kept`: the file comes from the OPFS copy (nothing to keep again). */
  loadFile: (file: File, params: DatasetParams, kept?: boolean) => Promise<void>;
  /** Re-tokenises for new settings (sequence length, split). */
  refresh: (params: DatasetParams) => Promise<void>;
}

/** The data settings of the form. */
export function datasetParams(): DatasetParams {
  const { seqLen, validationFraction, seed } = useSettingsStore.getState().shared;
  return { seqLen, validationFraction, seed };
}

export const useDataStore = create<DataState>()((set, get) => {
  const run = async (what: string, call: () => Promise<DatasetPreview>): Promise<boolean> => {
    set({ loading: what, error: null });
    try {
      set({ preview: await call(), loading: null });
      return true;
    } catch (error) {
      set({ loading: null, error: { what, message: errorMessage(error) } });
      return false;
    }
  };
  return {
    preview: null,
    loading: null,
    error: null,
    source: null,
    keptFile: null,
    keepError: null,
    loadBuiltin: async (name, params) => {
      if (await run(`${name} (built-in)`, () => engineClient().call('loadBuiltinDataset', { name, ...params }))) set({ source: { kind: 'builtin', id: name } });
    },
    loadFile: async (file, params, kept = false) => {
      if (!(await run(file.name, () => engineClient().call('loadDatasetFile', { file, ...params })))) return;
      set({ source: { kind: 'file', name: file.name }, ...(kept ? { keptFile: file.name } : {}) });
      if (kept || !opfsAvailable()) return;
      try {
        await cacheDataFile(file);
        set({ keptFile: file.name, keepError: null });
      } catch (error) {
        set({ keepError: errorMessage(error) });
      }
    },
    refresh: async (params) => {
      if (!get().preview || get().loading) return;
      await run(get().preview!.name, () => engineClient().call('previewDataset', params));
    },
  };
});
