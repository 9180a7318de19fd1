// Saved comparisons (IndexedDB through io/runDb.ts): every run that ends (done, stopped, failed
// with curves) is saved on its own; the list can reopen one (its curves and table replace the
// page's run), overlay one on the current curves (dashed lines), or delete one. Opening the page
// restores the newest saved run, so a reload loses no results.
//
// What is saved is curves and settings, never weights: exports of adapters need the run trained
// in this session (`live` says whether the page shows it).

import { create } from 'zustand';
import { deleteRun, getRun, listRuns, saveRun, type RunListing } from '../io/runDb';
import { runName, type RunRecord } from '../io/runRecord';
import { useDataStore } from './dataStore';
import { useDiagnosticsStore } from './diagnosticsStore';
import { useModelStore } from './modelStore';
import { useRunStore, type RunPhase } from './runStore';
import { useSettingsStore } from './settingsStore';
import { errorMessage, InputError } from '../errors';

interface SavedRunsState {
  readonly runs: readonly RunListing[];
  /** The saved run the page shows (reopened or restored), or null for the run trained here. */
  readonly viewing: string | null;
  /** A saved run drawn dashed over the current curves. */
  readonly overlay: RunRecord | null;
  /** Whether the page's run was trained in this session (its adapters are in the worker). */
  readonly live: boolean;
  /** The saved record of the run trained in this session, once saved. */
  readonly liveId: string | null;
  readonly error: string | null;
  refresh: () => Promise<void>;
  reopen: (id: string) => Promise<void>;
  setOverlay: (id: string | null) => Promise<void>;
  remove: (id: string) => Promise<void>;
  /** On page open: show the newest saved run if the page has none. */
  restoreLast: () => Promise<void>;
}

const ACTIVE: readonly RunPhase[] = ['initialising', 'running', 'paused', 'stopping'];

/** The page's run as a record (for saving and for exports of the comparison). */
export function currentRunRecord(id = `run-${Date.now()}`, startedAt = Date.now()): RunRecord | null {
  const run = useRunStore.getState();
  if (!run.params || run.methods.length === 0) return null;
  const infos = useSettingsStore.getState().methods;
  const methods = run.methods.map((m) => ({ id: m, label: infos.find((i) => i.id === m)?.label ?? m }));
  const steps = Math.max(0, ...Object.values(run.series).map((p) => p.length));
  const accuracy: Record<string, number> = {};
  for (const m of run.result?.methods ?? []) {
    const a = (m as { accuracy?: number | null }).accuracy;
    if (typeof a === 'number') accuracy[m.id] = a;
  }
  const saved = useSavedRunsStore.getState();
  const viewed = saved.viewing ? saved.runs.find((r) => r.id === saved.viewing) : undefined;
  return {
    id,
    name: runName(methods, steps),
    startedAt,
    savedAt: Date.now(),
    status: run.phase === 'stopped' ? 'stopped' : run.phase === 'failed' ? 'failed' : 'done',
    model: viewed?.model ?? useModelStore.getState().card?.name ?? 'unknown model',
    dataset: viewed?.dataset ?? useDataStore.getState().preview?.name ?? 'unknown data',
    params: { ...run.params, methods: run.params.methods.map((m) => ({ id: m.id, settings: { ...m.settings } })) },
    methods,
    series: run.series,
    evals: run.evals,
    ready: run.ready,
    halted: run.halted,
    accuracy,
    error: run.error ?? undefined,
  };
}

function show(record: RunRecord): void {
  useDiagnosticsStore.getState().reset();
  useRunStore.setState({
    ...useRunStore.getInitialState(),
    phase: record.status,
    error: record.error ?? null,
    methods: record.methods.map((m) => m.id),
    params: record.params as never,
    series: record.series,
    evals: record.evals,
    ready: record.ready,
    halted: record.halted,
    result: {
      stopped: record.status === 'stopped',
      methods: record.methods.map((m) => ({
        id: m.id,
        trainableParams: record.ready[m.id]?.trainableParams ?? Number.NaN,
        bytes: record.ready[m.id]?.bytes ?? Number.NaN,
        initMs: record.ready[m.id]?.initMs ?? Number.NaN,
        trainMs: (record.series[m.id] ?? []).reduce((n, p) => n + p.ms, 0),
        steps: record.series[m.id]?.length ?? 0,
        tokens: (record.series[m.id] ?? []).reduce((n, p) => n + p.tokens, 0),
        finalLoss: record.series[m.id]?.at(-1)?.loss ?? Number.NaN,
        finalValLoss: record.evals[m.id]?.at(-1)?.loss ?? null,
        bestValLoss: record.evals[m.id]?.length ? Math.min(...record.evals[m.id]!.map((e) => e.loss)) : null,
        halted: record.halted[m.id],
        accuracy: record.accuracy?.[m.id] ?? null,
      })),
    },
  });
}

export const useSavedRunsStore = create<SavedRunsState>()((set, get) => ({
  runs: [],
  viewing: null,
  overlay: null,
  live: false,
  liveId: null,
  error: null,

  refresh: async () => {
    try {
      set({ runs: await listRuns() });
    } catch (error) {
      set({ error: `Saved runs are unavailable: ${errorMessage(error)}` });
    }
  },
  reopen: async (id) => {
    if (ACTIVE.includes(useRunStore.getState().phase)) return;
    try {
      const record = await getRun(id);
      if (!record) throw new InputError('it was deleted');
      show(record);
      set({ viewing: id, live: false, error: null, overlay: get().overlay?.id === id ? null : get().overlay });
    } catch (error) {
      set({ error: `The saved run could not be opened: ${errorMessage(error)}` });
    }
  },
  setOverlay: async (id) => {
    if (id === null) {
      set({ overlay: null });
      return;
    }
    try {
      const record = await getRun(id);
      if (!record) throw new InputError('it was deleted');
      set({ overlay: record, error: null });
    } catch (error) {
      set({ error: `The saved run could not be overlaid: ${errorMessage(error)}` });
    }
  },
  remove: async (id) => {
    try {
      await deleteRun(id);
      set({ overlay: get().overlay?.id === id ? null : get().overlay, viewing: get().viewing === id ? null : get().viewing });
      await get().refresh();
    } catch (error) {
      set({ error: `The saved run could not be deleted: ${errorMessage(error)}` });
    }
  },
  restoreLast: async () => {
    await get().refresh();
    const latest = get().runs[0];
    const run = useRunStore.getState();
    if (!latest || run.phase !== 'idle' || run.methods.length > 0) return;
    await get().reopen(latest.id);
  },
}));

// Save every run as it ends; a run starting makes the page's run the live one again.
let startedAt = 0;
useRunStore.subscribe((s, prev) => {
  if (s.phase === prev.phase) return;
  if (s.phase === 'initialising' && !ACTIVE.includes(prev.phase)) {
    startedAt = Date.now();
    useSavedRunsStore.setState({ viewing: null, live: true, liveId: null });
    return;
  }
  const ended = s.phase === 'done' || s.phase === 'stopped' || s.phase === 'failed';
  if (!ended || !ACTIVE.includes(prev.phase)) return;
  if (Object.values(s.series).every((p) => p.length === 0)) return;
  const record = currentRunRecord(`run-${startedAt || Date.now()}`, startedAt || Date.now());
  if (!record) return;
  void saveRun(record)
    .then(() => {
      useSavedRunsStore.setState({ liveId: record.id });
      return useSavedRunsStore.getState().refresh();
    })
    .catch((error: unknown) => useSavedRunsStore.setState({ error: `This run could not be saved: ${errorMessage(error)}` }));
});
