// Saved comparisons (IndexedDB through io/runDb.ts): every run that ends (done, stopped, failed
// with curves) is saved on its own, with the model and data it trained on. The list can reopen
// one (its curves, table, quantization errors, accuracy and settings replace the page's), run one
// again with its settings, overlay one on the current curves (dashed lines), rename and annotate
// one, diff two, or delete one. The workspace restore (workspace.ts) shows the last run on open.
//
// A run that does not fit in the browser's storage stays `pending` in memory with the error
// (sizes, what to delete); Retry saves it once space is freed. The saved-runs panel shows the
// site's storage use (navigator.storage.estimate()).
//
// What is saved is curves and settings, never weights: generation and adapter export need the run
// trained in this page (runStore `weights`). A run with a checkpoint stored (io/checkpointStore.ts)
// is `resumable`: Resume shows it and continues it from the checkpoint (runStore).

import { create } from 'zustand';
import { checkpointRunIds, deleteCheckpoint } from '../io/checkpointStore';
import { deleteRun, getRun, listRuns, saveRun, updateRun, type RunListing } from '../io/runDb';
import { runName, type RunRecord } from '../io/runRecord';
import { storageUse, type StorageUse } from '../io/storageQuota';
import { useDiagnosticsStore } from './diagnosticsStore';
import { useModelStore } from './modelStore';
import { useRunStore, type RunPhase } from './runStore';
import { applyRunSettings, loadRunInputs } from './runInputs';
import { comparisonParams, useSettingsStore } from './settingsStore';
import { errorMessage, InputError } from '../errors';

interface SavedRunsState {
  readonly runs: readonly RunListing[];
  /** The saved run the page shows (reopened or restored), or null for the run trained here. */
  readonly viewing: string | null;
  /** A saved run drawn dashed over the current curves, and its id (set at once when chosen, before the record is read). */
  readonly overlay: RunRecord | null;
  readonly overlayId: string | null;
  /** Whether the page's run was trained in this session. */
  readonly live: boolean;
  /** The saved record of the run trained in this session, once saved. */
  readonly liveId: string | null;
  readonly error: string | null;
  /** What the last reopen or run-again did not restore, in words. */
  readonly notice: string | null;
  /** A finished run that did not fit in storage, kept in memory so it can be saved once space is freed. */
  readonly pending: RunRecord | null;
  /** The site's storage use and quota, and what the saved runs take of it. */
  readonly usage: StorageUse | null;
  readonly runsBytes: number;
  /** Ids of the saved runs with a checkpoint in this browser. */
  readonly resumable: readonly string[];
  /** Two saved runs compared setting by setting. */
  readonly diff: { readonly a: RunRecord; readonly b: RunRecord } | null;
  refresh: () => Promise<void>;
  /** Shows a saved run; `settings` also puts its settings into the form (the Reopen button). */
  reopen: (id: string, options?: { readonly settings?: boolean }) => Promise<void>;
  /** Repeats a saved run: its settings, its model and data (loaded again where the browser has them), then Start. */
  rerun: (id: string) => Promise<void>;
  /** Shows a saved run and continues it from its checkpoint (its model and data must be loaded; else the run bar says which). */
  resumeSaved: (id: string) => Promise<void>;
  setOverlay: (id: string | null) => Promise<void>;
  remove: (id: string) => Promise<void>;
  rename: (id: string, name: string) => Promise<void>;
  annotate: (id: string, notes: string) => Promise<void>;
  retrySave: () => Promise<void>;
  compare: (a: string, b: string) => Promise<void>;
  closeDiff: () => void;
  /** On page open: show `preferred` (the workspace's last run) or the newest saved run, if the page shows none. */
  restoreLast: (preferred?: string | null, settings?: boolean) => Promise<void>;
}

const ACTIVE: readonly RunPhase[] = ['initialising', 'running', 'paused', 'stopping'];

let edits: Promise<unknown> = Promise.resolve();

/** Renames and notes read, change and write a record: one at a time, so a quick rename then note never loses either. */
function serially<T>(work: () => Promise<T>): Promise<T> {
  const next = edits.then(work, work);
  edits = next.catch(() => undefined);
  return next;
}

/** Exact-match fraction per method whose questions have all been answered. */
function finishedAccuracy(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, a] of Object.entries(useDiagnosticsStore.getState().accuracy)) if (a.total > 0 && a.done === a.total) out[id] = a.correct / a.total;
  return out;
}

/** The page's run as a record (for saving and for exports of the comparison). */
export function currentRunRecord(): RunRecord | null {
  const run = useRunStore.getState();
  if (!run.params || run.methods.length === 0) return null;
  const infos = useSettingsStore.getState().methods;
  const methods = run.methods.map((m) => ({ id: m, label: infos.find((i) => i.id === m)?.label ?? m }));
  const steps = Math.max(0, ...Object.values(run.series).map((p) => p.length));
  const accuracy: Record<string, number> = finishedAccuracy();
  for (const m of run.result?.methods ?? []) if (typeof m.accuracy === 'number') accuracy[m.id] = m.accuracy;
  const meta = run.record;
  const startedAt = meta?.startedAt ?? Date.now();
  const diagnostics = useDiagnosticsStore.getState();
  return {
    id: meta?.id ?? `run-${startedAt}`,
    name: meta?.name ?? runName(methods, steps),
    ...(meta?.notes ? { notes: meta.notes } : {}),
    startedAt,
    savedAt: Date.now(),
    status: run.phase === 'stopped' ? 'stopped' : run.phase === 'failed' ? 'failed' : 'done',
    model: meta?.model ?? useModelStore.getState().card?.name ?? 'unknown model',
    dataset: meta?.dataset ?? 'unknown data',
    ...(meta?.modelInfo ? { modelInfo: meta.modelInfo } : {}),
    ...(meta?.dataInfo ? { dataInfo: meta.dataInfo } : {}),
    ...(run.baseVal !== null ? { baseVal: run.baseVal } : {}),
    ...(diagnostics.quant.length > 0 ? { quant: { points: diagnostics.quant, layers: diagnostics.layers } } : {}),
    params: { ...run.params, methods: run.params.methods.map((m) => ({ id: m.id, settings: { ...m.settings } })) },
    methods,
    series: run.series,
    evals: run.evals,
    ready: run.ready,
    halted: run.halted,
    ...(Object.keys(run.diverging).length > 0 ? { diverging: run.diverging } : {}),
    ...(Object.keys(run.nonFinite).length > 0 ? { nonFinite: run.nonFinite } : {}),
    accuracy,
    ...(run.result?.forgetting ? { forgetting: run.result.forgetting } : {}),
    ...(run.error ? { error: run.error } : {}),
    ...(run.samples ? { samples: run.samples } : {}),
    ...(run.seeds.length > 0 ? { seeds: run.seeds } : {}),
  };
}

function show(record: RunRecord): void {
  const diagnostics = useDiagnosticsStore.getState();
  diagnostics.reset();
  useDiagnosticsStore.setState({ quant: record.quant?.points ?? [], layers: record.quant?.layers ?? [] });
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
    diverging: record.diverging ?? {},
    nonFinite: record.nonFinite ?? {},
    baseVal: record.baseVal ?? null,
    samples: record.samples ?? null,
    seeds: record.seeds ?? [],
    seedRun: record.seeds?.length
      ? {
          index: record.seeds.length - 1,
          count: typeof record.params.seeds === 'number' ? record.params.seeds : record.seeds.length,
          seed: record.seeds.at(-1)!.seed,
        }
      : null,
    record: {
      id: record.id,
      name: record.name,
      notes: record.notes ?? '',
      startedAt: record.startedAt,
      model: record.model,
      dataset: record.dataset,
      ...(record.modelInfo ? { modelInfo: record.modelInfo } : {}),
      ...(record.dataInfo ? { dataInfo: record.dataInfo } : {}),
    },
    weights: false,
    result: {
      stopped: record.status === 'stopped',
      ...(record.forgetting ? { forgetting: record.forgetting } : {}),
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
        bestValLoss: record.evals[m.id]?.length ? record.evals[m.id]!.reduce((b, e) => Math.min(b, e.loss), Infinity) : null,
        halted: record.halted[m.id],
        accuracy: record.accuracy?.[m.id] ?? null,
      })),
    },
  });
}

function sentence(problems: readonly string[]): string {
  return problems.join('; ');
}

export const useSavedRunsStore = create<SavedRunsState>()((set, get) => {
  /** After a rename or notes edit: the list, the page's run and the open diff show the new text. */
  const updated = (record: RunRecord) => {
    const run = useRunStore.getState();
    if (run.record?.id === record.id) useRunStore.setState({ record: { ...run.record, name: record.name, notes: record.notes ?? '' } });
    const diff = get().diff;
    if (diff) set({ diff: { a: diff.a.id === record.id ? record : diff.a, b: diff.b.id === record.id ? record : diff.b } });
    if (get().overlay?.id === record.id) set({ overlay: record });
  };
  return {
    runs: [],
    viewing: null,
    overlay: null,
    overlayId: null,
    live: false,
    liveId: null,
    error: null,
    notice: null,
    pending: null,
    usage: null,
    runsBytes: 0,
    resumable: [],
    diff: null,

    refresh: async () => {
      try {
        const runs = await listRuns();
        set({ runs, runsBytes: runs.reduce((n, r) => n + r.bytes, 0), usage: await storageUse() });
        set({ resumable: await checkpointRunIds().catch(() => []) });
      } catch (error) {
        set({ error: `Saved runs are unavailable: ${errorMessage(error)}` });
      }
    },
    reopen: async (id, options = {}) => {
      if (ACTIVE.includes(useRunStore.getState().phase)) return;
      try {
        const record = await getRun(id);
        if (!record) throw new InputError('it was deleted');
        show(record);
        const problems = options.settings ? applyRunSettings(record.params) : [];
        set({
          viewing: id,
          live: false,
          error: null,
          notice: problems.length ? `Settings restored, except: ${sentence(problems)}.` : null,
          ...(get().overlayId === id ? { overlay: null, overlayId: null } : {}),
        });
      } catch (error) {
        set({ error: `The saved run could not be opened: ${errorMessage(error)}` });
      }
    },
    rerun: async (id) => {
      if (ACTIVE.includes(useRunStore.getState().phase)) return;
      try {
        const record = await getRun(id);
        if (!record) throw new InputError('it was deleted');
        const problems = [...applyRunSettings(record.params), ...(await loadRunInputs(record))];
        if (problems.length) {
          set({
            notice: null,
            error: `"${record.name}" cannot be repeated as it was: ${sentence(problems)}. Its settings are in the form: Start trains them on what is loaded.`,
          });
          return;
        }
        set({ error: null, notice: null });
        await useRunStore.getState().start(comparisonParams(useSettingsStore.getState()));
      } catch (error) {
        set({ error: `The saved run could not be run again: ${errorMessage(error)}` });
      }
    },
    resumeSaved: async (id) => {
      if (ACTIVE.includes(useRunStore.getState().phase)) return;
      if (get().viewing !== id && useRunStore.getState().record?.id !== id) await get().reopen(id);
      await useRunStore.getState().resumeFromCheckpoint();
    },
    setOverlay: async (id) => {
      set({ overlayId: id, ...(id === null ? { overlay: null } : {}) });
      if (id === null) return;
      try {
        const record = await getRun(id);
        if (!record) throw new InputError('it was deleted');
        // Another choice made while this one was read wins.
        if (get().overlayId === id) set({ overlay: record, error: null });
      } catch (error) {
        if (get().overlayId === id) set({ overlayId: null, error: `The saved run could not be overlaid: ${errorMessage(error)}` });
      }
    },
    remove: async (id) => {
      try {
        await deleteRun(id);
        await deleteCheckpoint(id).catch(() => undefined);
        const diff = get().diff;
        set({
          ...(get().overlayId === id ? { overlay: null, overlayId: null } : {}),
          viewing: get().viewing === id ? null : get().viewing,
          diff: diff && (diff.a.id === id || diff.b.id === id) ? null : diff,
        });
        await get().refresh();
      } catch (error) {
        set({ error: `The saved run could not be deleted: ${errorMessage(error)}` });
      }
    },
    rename: async (id, name) => {
      try {
        updated(await serially(() => updateRun(id, { name })));
        set({ error: null });
      } catch (error) {
        set({ error: `The run could not be renamed: ${errorMessage(error)}` });
      }
      await get().refresh();
    },
    annotate: async (id, notes) => {
      try {
        updated(await serially(() => updateRun(id, { notes })));
        set({ error: null });
      } catch (error) {
        set({ error: `The notes could not be saved: ${errorMessage(error)}` });
      }
      await get().refresh();
    },
    retrySave: async () => {
      const pending = get().pending;
      if (!pending) return;
      await persist({ ...pending, savedAt: Date.now() });
    },
    compare: async (a, b) => {
      try {
        const [ra, rb] = await Promise.all([getRun(a), getRun(b)]);
        if (!ra || !rb) throw new InputError('one of them was deleted');
        set({ diff: { a: ra, b: rb }, error: null });
      } catch (error) {
        set({ error: `The runs could not be compared: ${errorMessage(error)}` });
      }
    },
    closeDiff: () => set({ diff: null }),
    restoreLast: async (preferred, settings = false) => {
      await get().refresh();
      const run = useRunStore.getState();
      if (run.phase !== 'idle' || run.methods.length > 0) return;
      const target = get().runs.find((r) => r.id === preferred) ?? get().runs[0];
      if (target) await get().reopen(target.id, { settings });
    },
  };
});

/**
 * Saves the page's run; once saved, the banner and the list name it by its id. When it does not
 * fit (or storage fails), it stays `pending` with the error, for Retry.
 */
async function persist(record: RunRecord): Promise<void> {
  try {
    await saveRun(record);
    useSavedRunsStore.setState({ pending: null, error: null, liveId: record.id });
    const shown = useRunStore.getState().record;
    if (shown && shown.id === null && shown.startedAt === record.startedAt) useRunStore.setState({ record: { ...shown, id: record.id } });
  } catch (error) {
    useSavedRunsStore.setState({ pending: record, error: `This run could not be saved: ${errorMessage(error)}` });
  }
  await useSavedRunsStore.getState().refresh();
}

// Save every run as it ends; a run starting makes the page's run the live one again.
useRunStore.subscribe((s, prev) => {
  if (s.phase === prev.phase) return;
  if (s.phase === 'initialising' && !ACTIVE.includes(prev.phase)) {
    useSavedRunsStore.setState({ viewing: null, live: true, liveId: null, notice: null });
    return;
  }
  const ended = s.phase === 'done' || s.phase === 'stopped' || s.phase === 'failed';
  if (!ended || !ACTIVE.includes(prev.phase)) return;
  if (Object.values(s.series).every((p) => p.length === 0)) return;
  const record = currentRunRecord();
  if (record) void persist(record);
});

// A checkpoint stored or dropped for the page's run changes which saved runs can resume.
useRunStore.subscribe((s, prev) => {
  if (s.checkpoint === prev.checkpoint) return;
  checkpointRunIds().then(
    (resumable) => useSavedRunsStore.setState({ resumable }),
    () => undefined,
  );
});
