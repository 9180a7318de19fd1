// The workspace a reload restores: the last model (its OPFS copy when it was kept, the built-in
// model otherwise), the last data (the built-in set, or the dropped file's OPFS copy), the form's
// settings, and the run that was shown. Kept in localStorage (a few KB), written a moment after
// any of them changes, and only once the restore has finished, so the defaults of a page still
// opening never overwrite it. What could not be restored is said in `notice`.

import { create } from 'zustand';
import { useDataStore, datasetParams } from './dataStore';
import { useModelCacheStore } from './modelCacheStore';
import { useModelStore } from './modelStore';
import { useRunStore } from './runStore';
import { applyMethods, applyShared } from './runInputs';
import { useSavedRunsStore } from './savedRunsStore';
import { useSettingsStore } from './settingsStore';
import { cachedDataFile, cleanInterrupted } from '../io/opfsCache';
import { errorMessage } from '../errors';

const KEY = 'adapter-studio.workspace';
const WRITE_DELAY_MS = 300;

interface Workspace {
  readonly version: 1;
  readonly model: { readonly kind: 'builtin' } | { readonly kind: 'dropped'; readonly name: string; readonly key: string | null };
  readonly data: { readonly kind: 'builtin'; readonly id: string } | { readonly kind: 'file'; readonly name: string } | null;
  readonly frozenF16: boolean;
  readonly shared: Readonly<Record<string, unknown>>;
  readonly choices: Readonly<Record<string, { readonly enabled: boolean; readonly settings: Readonly<Record<string, unknown>> }>>;
  /** The saved run that was shown (null: none, or a run not saved yet). */
  readonly run: string | null;
}

interface WorkspaceState {
  /** What the last restore could not bring back, in words. */
  readonly notice: string | null;
  readonly restored: boolean;
  dismiss: () => void;
}

export const useWorkspaceStore = create<WorkspaceState>()((set) => ({
  notice: null,
  restored: false,
  dismiss: () => set({ notice: null }),
}));

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // a sandboxed page can throw on the mere access
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The saved workspace, or null when there is none or it is unreadable (then the defaults apply). */
function readWorkspace(): Workspace | null {
  try {
    const v = JSON.parse(storage()?.getItem(KEY) ?? 'null') as unknown;
    if (!isObject(v) || v.version !== 1 || !isObject(v.model) || !isObject(v.shared) || !isObject(v.choices)) return null;
    const m = v.model;
    const model: Workspace['model'] =
      m.kind === 'dropped' && typeof m.name === 'string'
        ? { kind: 'dropped', name: m.name, key: typeof m.key === 'string' ? m.key : null }
        : { kind: 'builtin' };
    const d = v.data;
    const data: Workspace['data'] = !isObject(d)
      ? null
      : d.kind === 'file' && typeof d.name === 'string'
        ? { kind: 'file', name: d.name }
        : d.kind === 'builtin' && typeof d.id === 'string'
          ? { kind: 'builtin', id: d.id }
          : null;
    const choices: Record<string, { enabled: boolean; settings: Record<string, unknown> }> = {};
    for (const [id, c] of Object.entries(v.choices))
      if (isObject(c) && isObject(c.settings)) choices[id] = { enabled: c.enabled === true, settings: c.settings };
    return { version: 1, model, data, frozenF16: v.frozenF16 === true, shared: v.shared, choices, run: typeof v.run === 'string' ? v.run : null };
  } catch {
    return null;
  }
}

function currentWorkspace(): Workspace {
  const model = useModelStore.getState();
  const data = useDataStore.getState().source;
  const settings = useSettingsStore.getState();
  return {
    version: 1,
    model: model.origin?.kind === 'dropped' && model.card ? { kind: 'dropped', name: model.card.name, key: model.origin.key } : { kind: 'builtin' },
    data: data?.kind === 'file' ? { kind: 'file', name: data.name } : data ? { kind: 'builtin', id: data.id } : null,
    frozenF16: model.frozenF16,
    shared: settings.shared as unknown as Record<string, unknown>,
    choices: settings.choices,
    run: useRunStore.getState().record?.id ?? null,
  };
}

let timer: ReturnType<typeof setTimeout> | undefined;

function scheduleWrite(): void {
  if (!useWorkspaceStore.getState().restored) return;
  clearTimeout(timer);
  timer = setTimeout(() => {
    try {
      storage()?.setItem(KEY, JSON.stringify(currentWorkspace()));
    } catch (error) {
      useWorkspaceStore.setState({
        notice: `The workspace could not be remembered for the next visit (${errorMessage(error)}): after a reload the built-in model, data and default settings come back. Free browser storage under Saved runs.`,
      });
    }
  }, WRITE_DELAY_MS);
}

useSettingsStore.subscribe((s, prev) => {
  if (s.shared !== prev.shared || s.choices !== prev.choices) scheduleWrite();
});
useModelStore.subscribe((s, prev) => {
  if (s.origin !== prev.origin || s.card !== prev.card || s.frozenF16 !== prev.frozenF16) scheduleWrite();
});
useDataStore.subscribe((s, prev) => {
  if (s.source !== prev.source) scheduleWrite();
});
useRunStore.subscribe((s, prev) => {
  if (s.record?.id !== prev.record?.id) scheduleWrite();
});

async function restoreModel(ws: Workspace | null, notes: string[]): Promise<boolean> {
  if (ws?.model.kind === 'dropped') {
    const { name, key } = ws.model;
    if (key) {
      await useModelCacheStore.getState().refresh();
      if (await useModelCacheStore.getState().loadCached(key)) return true;
      notes.push(`the last model, ${name}, could not be loaded from this browser's copy, so the built-in model is loaded`);
    } else {
      notes.push(
        `the last model, ${name}, was not kept in this browser (its copy failed or was deleted), so the built-in model is loaded: drop its folder again`,
      );
    }
  }
  return useModelStore.getState().loadBuiltin();
}

async function restoreData(ws: Workspace | null, notes: string[]): Promise<void> {
  const data = useDataStore.getState();
  if (ws?.data?.kind === 'file') {
    const file = await cachedDataFile();
    if (file && file.name === ws.data.name) {
      await data.loadFile(file, datasetParams(), true);
      if (!useDataStore.getState().error) return;
    }
    notes.push(`the last data file, ${ws.data.name}, is not kept in this browser, so the built-in math set is loaded: drop it again`);
  }
  await data.loadBuiltin(ws?.data?.kind === 'builtin' ? ws.data.id : 'math', datasetParams());
}

/**
 * Opening the page: the saved settings, then the last run (shown at once, from IndexedDB), the
 * last model and the last data. With no saved workspace: the built-in model and math set, and the
 * newest saved run with its settings.
 */
export async function restoreWorkspace(): Promise<void> {
  const ws = readWorkspace();
  const notes: string[] = [];
  if (ws) {
    applyShared(ws.shared);
    const missing = applyMethods(Object.entries(ws.choices).map(([id, c]) => ({ id, ...c })));
    if (missing.length)
      notes.push(`${missing.join(', ')} ${missing.length === 1 ? 'was a dropped adapter' : 'were dropped adapters'}: drop the folder again to use it`);
    useModelStore.getState().setFrozenF16(ws.frozenF16);
  }
  await cleanInterrupted().catch(() => undefined);
  const shownRun = useSavedRunsStore.getState().restoreLast(ws?.run ?? null, ws === null);
  if (await restoreModel(ws, notes)) await restoreData(ws, notes);
  await shownRun;
  useWorkspaceStore.setState({ restored: true, notice: notes.length ? `Restored the last session, except: ${notes.join('; ')}.` : null });
  scheduleWrite();
}
