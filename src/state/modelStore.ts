// The model the studio trains: loading (built-in or dropped folder) with per-tensor progress,
// its card, the error of a failed load (shown beside the file while the previous model stays),
// and the per-method estimates for the current settings.

import { create } from 'zustand';
import { engineClient } from './engineStore';
import type { EstimateParams, MethodEstimate, ModelCard, ModelLoadProgress, PickedFile } from '../worker/protocol';

export const BUILTIN_MODEL = 'kjv-llama-1m';

interface ModelState {
  readonly card: ModelCard | null;
  /** What is being loaded now, with its progress. */
  readonly loading: { readonly what: string; readonly progress: ModelLoadProgress | null } | null;
  /** Why the last load failed (the previous model, if any, is still loaded). */
  readonly error: { readonly what: string; readonly message: string } | null;
  readonly estimates: readonly MethodEstimate[];
  loadBuiltin: () => Promise<boolean>;
  loadFiles: (files: readonly PickedFile[]) => Promise<boolean>;
  refreshEstimates: (params: EstimateParams) => Promise<void>;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export const useModelStore = create<ModelState>()((set, get) => {
  const load = async (what: string, run: (onProgress: (p: ModelLoadProgress) => void) => Promise<ModelCard>): Promise<boolean> => {
    if (get().loading) return false;
    set({ loading: { what, progress: null }, error: null });
    try {
      const card = await run((progress) => set({ loading: { what, progress } }));
      set({ card, loading: null });
      return true;
    } catch (error) {
      set({ loading: null, error: { what, message: messageOf(error) } });
      return false;
    }
  };
  return {
    card: null,
    loading: null,
    error: null,
    estimates: [],
    loadBuiltin: () => load(`${BUILTIN_MODEL} (built-in)`, (onProgress) => engineClient().call('loadBuiltinModel', { name: BUILTIN_MODEL }, onProgress)),
    loadFiles: (files) => {
      const top = files[0]?.path.split('/')[0] ?? '';
      const what = files.length === 1 ? files[0]!.path : top && files.every((f) => f.path.startsWith(`${top}/`)) ? `${top}/ (${files.length} files)` : `${files.length} files`;
      return load(what, (onProgress) => engineClient().call('loadModelFiles', { files }, onProgress));
    },
    refreshEstimates: async (params) => {
      try {
        set({ estimates: await engineClient().call('estimate', params) });
      } catch {
        set({ estimates: [] });
      }
    },
  };
});
