// The text forgetting is measured on (worker/forgetting.ts): a held-out sample of the loaded
// model's own pretraining text. For the built-in model it is the heldout.txt its card names,
// fetched from the built site when the model loads; for a dropped model, a text file the user
// gives (none: forgetting is not measured). A new model drops the previous model's text. The
// text goes to the worker with each run (`withForgetting`) but is not part of the run's saved
// settings.

import { create } from 'zustand';
import { BUILTIN_MODEL, useModelStore } from './modelStore';
import type { ComparisonParams } from '../worker/protocol';
import { errorMessage } from '../errors';

/** The studio reads forgetting texts up to this size (the measurement uses their first few thousand tokens). */
const MAX_FORGETTING_BYTES = 8 * 1024 * 1024;

export interface ForgettingSource {
  readonly name: string;
  readonly text: string;
  /** The built-in model's own held-out file, or one the user gave. */
  readonly builtin: boolean;
}

interface ForgettingState {
  readonly source: ForgettingSource | null;
  readonly error: string | null;
  loadBuiltin: () => Promise<void>;
  loadFile: (file: File) => Promise<void>;
  clear: () => void;
}

export const useForgettingStore = create<ForgettingState>()((set) => ({
  source: null,
  error: null,
  loadBuiltin: async () => {
    const name = `${BUILTIN_MODEL}/heldout.txt`;
    try {
      const response = await fetch(`${import.meta.env.BASE_URL}models/${name}`);
      const html = (response.headers.get('content-type') ?? '').includes('text/html');
      if (!response.ok || html) {
        set({ source: null, error: `${name} could not be fetched (HTTP ${response.status}); forgetting is not measured. Give a text file instead.` });
        return;
      }
      set({ source: { name, text: await response.text(), builtin: true }, error: null });
    } catch (error) {
      set({ source: null, error: `${name} could not be fetched (${errorMessage(error)}); forgetting is not measured. Give a text file instead.` });
    }
  },
  loadFile: async (file) => {
    if (file.size > MAX_FORGETTING_BYTES) {
      set({ error: `${file.name} is too large for a forgetting text (up to 8 MB); give a smaller sample of the model's pretraining text` });
      return;
    }
    try {
      const text = await file.text();
      if (text.trim() === '') {
        set({ error: `${file.name} is empty; pick a text file with a sample of the model's pretraining text` });
        return;
      }
      set({ source: { name: file.name, text, builtin: false }, error: null });
    } catch (error) {
      set({ error: `${file.name} could not be read (${errorMessage(error)}); pick another text file` });
    }
  },
  clear: () => set({ source: null, error: null }),
}));

/** `params` with the current forgetting text, for the worker (the saved run keeps `params` without it). */
export function withForgetting(params: ComparisonParams): ComparisonParams {
  const source = useForgettingStore.getState().source;
  return source ? { ...params, forgetting: { name: source.name, text: source.text } } : params;
}

// Each model brings its own held-out text: the built-in one its heldout.txt, a dropped one none until the user gives one.
useModelStore.subscribe((s, prev) => {
  if (s.card === prev.card || s.card === null) return;
  const forgetting = useForgettingStore.getState();
  if (s.card.builtin) void forgetting.loadBuiltin();
  else forgetting.clear();
});
