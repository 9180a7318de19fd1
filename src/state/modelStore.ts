// The model the studio trains: loading (built-in or dropped folder) with per-tensor progress,
// its card, the error of a failed load (shown beside the file while the previous model stays),
// and the per-method estimates for the current settings. `frozenF16`: store an f32 checkpoint's
// frozen matrices as f16 on the GPU at the next load (16-bit checkpoints stay 16-bit regardless).
// `origin` says where the loaded model came from (built-in, or dropped and maybe kept in OPFS
// under a key), for the workspace a reload restores.

import { create } from 'zustand';
import { engineClient } from './engineStore';
import { useSettingsStore } from './settingsStore';
import type { EstimateParams, FrozenPrecision, MethodEstimate, ModelCard, ModelLoadProgress, PickedFile } from '../worker/protocol';
import { errorMessage } from '../errors';

export const BUILTIN_MODEL = 'kjv-llama-1m';

/** Where the loaded model came from; `key`: its copy in OPFS (null: not kept, a reload cannot load it again). */
export type ModelOrigin = { readonly kind: 'builtin' } | { readonly kind: 'dropped'; readonly key: string | null };

interface ModelState {
  readonly card: ModelCard | null;
  readonly origin: ModelOrigin | null;
  /** What is being loaded now, with its progress. */
  readonly loading: { readonly what: string; readonly progress: ModelLoadProgress | null } | null;
  /** Why the last load failed (the previous model, if any, is still loaded). */
  readonly error: { readonly what: string; readonly message: string } | null;
  readonly estimates: readonly MethodEstimate[];
  readonly frozenF16: boolean;
  setFrozenF16: (value: boolean) => void;
  loadBuiltin: () => Promise<boolean>;
  loadFiles: (files: readonly PickedFile[]) => Promise<boolean>;
  /** The last adapter folder dropped onto the model: loaded as a method (ticked), or why not. */
  readonly adapter: { readonly ok: boolean; readonly text: string } | null;
  loadAdapter: (files: readonly PickedFile[]) => Promise<void>;
  refreshEstimates: (params: EstimateParams) => Promise<void>;
}

export const useModelStore = create<ModelState>()((set, get) => {
  const load = async (what: string, origin: ModelOrigin, run: (onProgress: (p: ModelLoadProgress) => void) => Promise<ModelCard>): Promise<boolean> => {
    if (get().loading) return false;
    set({ loading: { what, progress: null }, error: null });
    try {
      const card = await run((progress) => set({ loading: { what, progress } }));
      set({ card, origin, loading: null, adapter: null });
      // Adapters loaded onto the previous model are gone with it.
      useSettingsStore.getState().setMethods(await engineClient().call('methods', {}));
      return true;
    } catch (error) {
      set({ loading: null, error: { what, message: errorMessage(error) } });
      return false;
    }
  };
  const precision = (): FrozenPrecision => (get().frozenF16 ? 'f16' : 'checkpoint');
  return {
    card: null,
    origin: null,
    loading: null,
    error: null,
    estimates: [],
    adapter: null,
    loadAdapter: async (files) => {
      try {
        const info = await engineClient().call('loadAdapterFiles', { files });
        const settings = useSettingsStore.getState();
        settings.setMethods(await engineClient().call('methods', {}));
        settings.toggleMethod(info.id, true);
        set({ adapter: { ok: true, text: `${info.label}: ${info.summary} It is ticked under Methods.` } });
      } catch (error) {
        set({ adapter: { ok: false, text: errorMessage(error) } });
      }
    },
    frozenF16: false,
    setFrozenF16: (value) => set({ frozenF16: value }),
    loadBuiltin: () =>
      load(`${BUILTIN_MODEL} (built-in)`, { kind: 'builtin' }, (onProgress) =>
        engineClient().call('loadBuiltinModel', { name: BUILTIN_MODEL, frozenPrecision: precision() }, onProgress),
      ),
    loadFiles: (files) => {
      const top = files[0]?.path.split('/')[0] ?? '';
      const what =
        files.length === 1
          ? files[0]!.path
          : top && files.every((f) => f.path.startsWith(`${top}/`))
            ? `${top}/ (${files.length} files)`
            : `${files.length} files`;
      return load(what, { kind: 'dropped', key: null }, (onProgress) =>
        engineClient().call('loadModelFiles', { files, frozenPrecision: precision() }, onProgress),
      );
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
