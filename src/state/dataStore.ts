// The training data: the built-in math set or a dropped file, as the worker previews it
// (first rows with their tokens, counts, skipped rows with reasons, split sizes). A file that
// cannot be used leaves the previous data in place and shows why.

import { create } from 'zustand';
import { engineClient } from './engineStore';
import type { DatasetParams, DatasetPreview } from '../worker/protocol';
import { errorMessage } from '../errors';

export const BUILTIN_DATASETS = [
  { id: 'math', label: 'Math word problems' },
  { id: 'words', label: 'Word instructions' },
] as const;

interface DataState {
  readonly preview: DatasetPreview | null;
  readonly loading: string | null;
  readonly error: { readonly what: string; readonly message: string } | null;
  loadBuiltin: (name: string, params: DatasetParams) => Promise<void>;
  loadFile: (file: File, params: DatasetParams) => Promise<void>;
  /** Re-tokenises for new settings (sequence length, split). */
  refresh: (params: DatasetParams) => Promise<void>;
}

export const useDataStore = create<DataState>()((set, get) => {
  const run = async (what: string, call: () => Promise<DatasetPreview>): Promise<void> => {
    set({ loading: what, error: null });
    try {
      set({ preview: await call(), loading: null });
    } catch (error) {
      set({ loading: null, error: { what, message: errorMessage(error) } });
    }
  };
  return {
    preview: null,
    loading: null,
    error: null,
    loadBuiltin: (name, params) => run(`${name} (built-in)`, () => engineClient().call('loadBuiltinDataset', { name, ...params })),
    loadFile: (file, params) => run(file.name, () => engineClient().call('loadDatasetFile', { file, ...params })),
    refresh: async (params) => {
      if (!get().preview || get().loading) return;
      await run(get().preview!.name, () => engineClient().call('previewDataset', params));
    },
  };
});
