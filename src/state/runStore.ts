// The comparison: its phase, each method's init progress, its curves as they stream in (one
// point per step, validation losses), halts, the final summary, and generations from the
// trained methods. Chart components derive their rows from `series` and `evals`.
//
// `record` says which run this is (its saved id, name, notes, and the model and data it trained
// on, captured when it starts); every panel that shows the run names it from here. `weights` says
// whether the worker holds its trained adapters: only for a run trained in this page, and only
// until another model is loaded (the worker then releases them). Saved runs keep no weights, but a
// run's last checkpoint (a finished run's is its final step) holds them: `restoreWeights` has the
// worker rebuild the methods from it (the run's model and data loaded), so generation and export
// work after a reload too.
//
// Checkpoints: the worker sends one every N steps (a setting), on pause and on stop; the newest is
// kept per run in IndexedDB (io/checkpointStore.ts, keyed by the run's saved id). `checkpoint`
// names the one the page's run has (also for a saved run shown after a reload), and
// `resumeFromCheckpoint` continues the run from it: the curves up to its step are kept and the
// new steps append to them.
//
// Seeds: a run with several seeds repeats the comparison (the worker says which seed with 'seed'
// and 'seedDone' events). `series`, `evals` and the rest hold the current seed (the last one once
// the run ends); `seeds` keeps each ended seed's share (io/runRecord.ts RunSeed) for the means.
// A seed that ends deletes its checkpoint, so a resume never goes back to an earlier seed.

import { create } from 'zustand';
import { engineClient, useEngineStore } from './engineStore';
import { useDiagnosticsStore } from './diagnosticsStore';
import { useDataStore } from './dataStore';
import { withForgetting } from './forgettingStore';
import { useModelStore } from './modelStore';
import { useSettingsStore } from './settingsStore';
import { deleteCheckpoint, loadCheckpoint, saveCheckpoint } from '../io/checkpointStore';
import { runName } from '../io/runRecord';
import type { DataIdentity, ModelIdentity } from '../io/runIdentity';
import type {
  ComparisonEvent,
  ComparisonParams,
  ComparisonResult,
  DatasetPreview,
  GenerateParams,
  InitProgress,
  ModelCard,
  StepPoint,
} from '../worker/protocol';
import type { RunNonFinite, RunSamples, RunSeed } from '../io/runRecord';
import { addSample, samplesUpTo } from '../io/runSamples';
import { errorMessage, InputError } from '../errors';

export type RunPhase = 'idle' | 'initialising' | 'running' | 'paused' | 'stopping' | 'done' | 'stopped' | 'failed';

export interface MethodReady {
  readonly trainableParams: number;
  readonly bytes: number;
  readonly initMs: number;
}

export interface Generation {
  readonly status: 'running' | 'done' | 'failed';
  readonly text: string;
  readonly prompt: string;
  readonly tokens?: number;
  readonly ms?: number;
}

/** Which run the page shows. */
export interface RunMeta {
  /** Its saved record's id; null until the run is saved. */
  readonly id: string | null;
  readonly name: string;
  readonly notes: string;
  readonly startedAt: number;
  /** Display names of the model and data (also for runs saved before identities). */
  readonly model: string;
  readonly dataset: string;
  /** Absent for runs saved before identities were recorded. */
  readonly modelInfo?: ModelIdentity;
  readonly dataInfo?: DataIdentity;
}

export function modelIdentity(card: ModelCard): ModelIdentity {
  return { name: card.name, ...(card.fingerprint ? { fingerprint: card.fingerprint } : {}), layers: card.layers, hidden: card.hidden, vocab: card.vocab };
}

export function dataIdentity(preview: DatasetPreview): DataIdentity {
  return { name: preview.name, ...(preview.textHash ? { hash: preview.textHash } : {}), train: preview.train, validation: preview.validation };
}

interface RunState {
  readonly phase: RunPhase;
  readonly error: string | null;
  /** Methods of the run, in order, and the settings it started with. */
  readonly methods: readonly string[];
  readonly params: ComparisonParams | null;
  readonly data: { readonly train: number; readonly validation: number; readonly stepsPerEpoch: number } | null;
  readonly init: Readonly<Record<string, InitProgress>>;
  readonly ready: Readonly<Record<string, MethodReady>>;
  readonly series: Readonly<Record<string, readonly StepPoint[]>>;
  readonly evals: Readonly<Record<string, readonly { step: number; loss: number }[]>>;
  readonly halted: Readonly<Record<string, string>>;
  /** The step each method's loss was first flagged as diverging at (it trained on). */
  readonly diverging: Readonly<Record<string, number>>;
  /** Methods stopped by a NaN or Inf: where it was found (train/health.ts). */
  readonly nonFinite: Readonly<Record<string, RunNonFinite>>;
  /** The newest checkpoint stored for the page's run, or null; `error` when storing one failed. */
  readonly checkpoint: { readonly step: number } | null;
  readonly checkpointError: string | null;
  /** The frozen base model's validation loss before training (the charts' "base" at step 0). */
  readonly baseVal: number | null;
  readonly result: ComparisonResult | null;
  readonly generations: Readonly<Record<string, Generation>>;
  readonly record: RunMeta | null;
  /** Whether the worker holds this run's trained adapters (generate and export need them). */
  readonly weights: boolean;
  /** Each method's continuation of one prompt at each validation step (null: samples off, or none yet). */
  readonly samples: RunSamples | null;
  /** The seed trained (or last trained) of a run with several seeds: index 0-based of count; null for one seed. */
  readonly seedRun: SeedPosition | null;
  /** Each ended seed of a run with several seeds, in order (a stopped one too, marked). */
  readonly seeds: readonly RunSeed[];
  start: (params: ComparisonParams) => Promise<void>;
  pause: () => Promise<void>;
  resume: () => Promise<void>;
  stop: () => Promise<void>;
  /** Continues the page's run from its newest checkpoint (with the same model and data loaded). */
  resumeFromCheckpoint: () => Promise<void>;
  /** Has the worker rebuild the run's trained methods from its checkpoint; throws an InputError saying why it cannot. */
  restoreWeights: () => Promise<void>;
  generate: (methodIds: readonly (string | null)[], prompt: string, maxNewTokens: number, decoding?: GenerateDecoding) => Promise<void>;
}

export interface SeedPosition {
  readonly index: number;
  readonly count: number;
  readonly seed: number;
}

/** How the Generate panel decodes (absent fields: greedy, stop at EOS, no stop string). */
export type GenerateDecoding = Pick<GenerateParams, 'temperature' | 'topK' | 'topP' | 'stopAtEos' | 'stopString' | 'seed'>;

export const BASE_MODEL_KEY = 'base';

const ACTIVE: readonly RunPhase[] = ['initialising', 'running', 'paused', 'stopping'];

/** The id the page's run is (or will be) saved under, which its checkpoints are keyed by. */
export function runIdOf(record: RunMeta): string {
  return record.id ?? `run-${record.startedAt}`;
}

/** What must be loaded before `record` can resume (or `purpose`), in words; null when the loaded model and data are its own. */
export function resumeProblem(record: RunMeta, purpose = 'resume this run'): string | null {
  const card = useModelStore.getState().card;
  const preview = useDataStore.getState().preview;
  const problems: string[] = [];
  if (!record.modelInfo?.fingerprint || card?.fingerprint !== record.modelInfo.fingerprint) problems.push(`load the model ${record.model}`);
  if (!record.dataInfo?.hash || preview?.textHash !== record.dataInfo.hash) problems.push(`load the data ${record.dataset}`);
  return problems.length === 0 ? null : `To ${purpose}, ${problems.join(' and ')} it was trained on.`;
}

/** Stores checkpoints one after another, so a slower write never replaces a newer checkpoint. */
let checkpointWrites: Promise<void> = Promise.resolve();

export const useRunStore = create<RunState>()((set, get) => {
  /** Runs a comparison (a new one or a resumed one) to its end, a stop or a failure. */
  const run = async (params: ComparisonParams): Promise<void> => {
    try {
      const result = await engineClient().call('startComparison', withForgetting(params), onEvent);
      // A run the GPU interrupted keeps its curves and records; its weights were released.
      set({
        phase: result.stopped ? 'stopped' : 'done',
        result,
        error: result.interrupted?.message ?? null,
        weights: !result.interrupted && result.methods.some((m) => m.steps > 0),
      });
      // A finished run keeps its final checkpoint: its trained weights after a reload (restoreWeights).
    } catch (error) {
      set({ phase: 'failed', error: errorMessage(error), weights: false });
    }
  };
  const onEvent = (e: ComparisonEvent): void => {
    useDiagnosticsStore.getState().onEvent(e);
    const s = get();
    switch (e.type) {
      case 'data':
        set({
          data: { train: e.train, validation: e.validation, stepsPerEpoch: e.stepsPerEpoch },
          // The split this run used (the preview's may be for other settings): e.validation counts only the rows evaluated, so the
          // held-out rows are the preview's examples less the run's training rows.
          record: s.record?.dataInfo
            ? {
                ...s.record,
                dataInfo: { ...s.record.dataInfo, train: e.train, validation: Math.max(0, s.record.dataInfo.train + s.record.dataInfo.validation - e.train) },
              }
            : s.record,
        });
        break;
      case 'init':
        set({
          methods: s.methods.includes(e.progress.method) ? s.methods : [...s.methods, e.progress.method],
          init: { ...s.init, [e.progress.method]: e.progress },
        });
        break;
      case 'ready':
        // A method added mid-way joins the run's list (and so every chart) when it is ready.
        set({
          methods: s.methods.includes(e.method) ? s.methods : [...s.methods, e.method],
          ready: { ...s.ready, [e.method]: { trainableParams: e.trainableParams, bytes: e.bytes, initMs: e.initMs } },
        });
        break;
      case 'step':
        set({ phase: s.phase === 'initialising' ? 'running' : s.phase, series: { ...s.series, [e.method]: [...(s.series[e.method] ?? []), e.point] } });
        break;
      case 'eval':
        set({ evals: { ...s.evals, [e.method]: [...(s.evals[e.method] ?? []), { step: e.step, loss: e.loss }] } });
        break;
      case 'base':
        set({ baseVal: e.loss });
        break;
      case 'halted':
        set({ halted: { ...s.halted, [e.method]: e.reason }, ...(e.nonFinite ? { nonFinite: { ...s.nonFinite, [e.method]: e.nonFinite } } : {}) });
        break;
      case 'diverging':
        set({ diverging: { ...s.diverging, [e.method]: e.step } });
        break;
      case 'samplePrompt':
        set({ samples: { prompt: e.prompt, source: e.source, byMethod: s.samples?.byMethod ?? {} } });
        break;
      case 'sample':
        if (s.samples) set({ samples: { ...s.samples, byMethod: addSample(s.samples.byMethod, e.method, e.sample) } });
        break;
      case 'seed':
        // A new seed starts its curves afresh; a resumed seed (the same index) keeps what it had up to its checkpoint.
        if (s.seedRun !== null && s.seedRun.index !== e.index) {
          useDiagnosticsStore.getState().reset();
          set({ series: {}, evals: {}, halted: {}, diverging: {}, ready: {}, init: {}, baseVal: null, samples: null });
        }
        set({ seedRun: { index: e.index, count: e.count, seed: e.seed } });
        break;
      case 'seedDone': {
        const ended: RunSeed = {
          seed: e.seed,
          stopped: e.stopped,
          series: s.series,
          evals: s.evals,
          ready: s.ready,
          halted: s.halted,
          accuracy: Object.fromEntries(e.methods.flatMap((m) => (typeof m.accuracy === 'number' ? [[m.id, m.accuracy]] : []))),
          ...(s.baseVal !== null ? { baseVal: s.baseVal } : {}),
          ...(e.forgetting ? { forgetting: e.forgetting } : {}),
        };
        set({ seeds: [...s.seeds.filter((x) => x.seed !== e.seed), ended].sort((a, b) => a.seed - b.seed) });
        const record = s.record;
        if (!e.stopped && s.seedRun && e.index < s.seedRun.count - 1 && record) {
          const runId = runIdOf(record);
          checkpointWrites = checkpointWrites.then(async () => {
            await deleteCheckpoint(runId).catch(() => undefined);
            if (get().record && runIdOf(get().record!) === runId) set({ checkpoint: null });
          });
        }
        break;
      }
      case 'checkpoint': {
        if (!s.record) break;
        const runId = runIdOf(s.record);
        const { step, manifest, tensors } = e.checkpoint;
        checkpointWrites = checkpointWrites.then(async () => {
          try {
            await saveCheckpoint({ runId, step, manifest, tensors, savedAt: Date.now() });
            if (get().record && runIdOf(get().record!) === runId) set({ checkpoint: { step }, checkpointError: null });
          } catch (error) {
            set({ checkpointError: `The checkpoint of step ${step} could not be kept: ${errorMessage(error)}` });
          }
        });
        break;
      }
      case 'state':
        if (s.phase !== 'stopping') set({ phase: e.state });
        break;
    }
  };
  return {
    phase: 'idle',
    error: null,
    methods: [],
    params: null,
    data: null,
    init: {},
    ready: {},
    series: {},
    evals: {},
    baseVal: null,
    halted: {},
    diverging: {},
    nonFinite: {},
    checkpoint: null,
    checkpointError: null,
    result: null,
    generations: {},
    record: null,
    weights: false,
    samples: null,
    seedRun: null,
    seeds: [],

    start: async (params) => {
      const phase = get().phase;
      if (phase === 'initialising' || phase === 'running' || phase === 'paused' || phase === 'stopping') return;
      useDiagnosticsStore.getState().reset();
      const card = useModelStore.getState().card;
      const preview = useDataStore.getState().preview;
      const infos = useSettingsStore.getState().methods;
      const startedAt = Date.now();
      set({
        record: {
          id: null,
          name: runName(
            params.methods.map((m) => ({ label: infos.find((i) => i.id === m.id)?.label ?? m.id })),
            params.steps,
          ),
          notes: '',
          startedAt,
          model: card?.name ?? 'unknown model',
          dataset: preview?.name ?? 'unknown data',
          ...(card ? { modelInfo: modelIdentity(card) } : {}),
          ...(preview ? { dataInfo: dataIdentity(preview) } : {}),
        },
        weights: false,
        phase: 'initialising',
        error: null,
        methods: params.methods.map((m) => m.id),
        params,
        data: null,
        init: {},
        ready: {},
        series: {},
        evals: {},
        baseVal: null,
        halted: {},
        diverging: {},
        nonFinite: {},
        checkpoint: null,
        checkpointError: null,
        result: null,
        generations: {},
        samples: null,
        seedRun: null,
        seeds: [],
      });
      await run(params);
    },
    resumeFromCheckpoint: async () => {
      const s = get();
      if (ACTIVE.includes(s.phase) || !s.record || !s.params) return;
      try {
        const problem = resumeProblem(s.record);
        if (problem) throw new InputError(problem);
        const stored = await loadCheckpoint(runIdOf(s.record));
        if (!stored) throw new InputError('this run has no checkpoint in this browser; start it again');
        const upTo = <P extends { readonly step: number }>(points: Readonly<Record<string, readonly P[]>>) =>
          Object.fromEntries(Object.entries(points).map(([m, p]) => [m, p.filter((x) => x.step <= stored.step)]));
        set({
          phase: 'initialising',
          error: null,
          series: upTo(s.series),
          evals: upTo(s.evals),
          diverging: Object.fromEntries(Object.entries(s.diverging).filter(([, step]) => step <= stored.step)),
          nonFinite: Object.fromEntries(Object.entries(s.nonFinite).filter(([, stop]) => stop.step <= stored.step)),
          samples: s.samples ? { ...s.samples, byMethod: samplesUpTo(s.samples.byMethod, stored.step) } : null,
          result: null,
          generations: {},
          weights: false,
          checkpoint: { step: stored.step },
        });
        await run({ ...s.params, resumeFrom: { step: stored.step, manifest: stored.manifest, tensors: stored.tensors } });
      } catch (error) {
        set({ phase: get().phase === 'initialising' ? 'failed' : get().phase, error: errorMessage(error) });
      }
    },
    restoreWeights: async () => {
      const s = get();
      if (s.weights) return;
      if (ACTIVE.includes(s.phase)) throw new InputError('wait for the run to finish (or stop it)');
      if (!s.record || !s.params || !s.checkpoint) {
        throw new InputError(
          "this run's trained weights are not in memory and no checkpoint of it is kept in this browser (runs are saved without weights): run it again",
        );
      }
      const problem = resumeProblem(s.record, "use this run's trained weights");
      if (problem) throw new InputError(problem);
      const stored = await loadCheckpoint(runIdOf(s.record));
      if (!stored) throw new InputError('the checkpoint of this run is no longer in this browser: run it again');
      await engineClient().call('restoreTrained', { params: s.params, checkpoint: { step: stored.step, manifest: stored.manifest, tensors: stored.tensors } });
      if (get().record === s.record) set({ weights: true });
    },
    pause: async () => {
      if (get().phase !== 'running' && get().phase !== 'initialising') return;
      await engineClient().call('pauseComparison', {});
    },
    resume: async () => {
      if (get().phase !== 'paused') return;
      await engineClient().call('resumeComparison', {});
    },
    stop: async () => {
      const phase = get().phase;
      if (phase !== 'running' && phase !== 'paused' && phase !== 'initialising') return;
      set({ phase: 'stopping' });
      await engineClient().call('stopComparison', {});
    },
    generate: async (methodIds, prompt, maxNewTokens, decoding = {}) => {
      let unrestorable: string | null = null;
      const trained = methodIds.filter((id): id is string => id !== null);
      if (trained.length > 0 && !get().weights) {
        const rebuilding = `Rebuilding the trained weights from the checkpoint of step ${get().checkpoint?.step ?? '?'}…`;
        set({ generations: { ...get().generations, ...Object.fromEntries(trained.map((id) => [id, { status: 'running', text: rebuilding, prompt }])) } });
        try {
          await get().restoreWeights();
        } catch (error) {
          unrestorable = errorMessage(error);
        }
      }
      for (const id of methodIds) {
        const key = id ?? BASE_MODEL_KEY;
        const put = (g: Omit<Generation, 'prompt'>) => set({ generations: { ...get().generations, [key]: { ...g, prompt } } });
        if (id !== null && unrestorable !== null) {
          put({ status: 'failed', text: unrestorable });
          continue;
        }
        put({ status: 'running', text: '' });
        try {
          const request = { methodId: id ?? undefined, prompt, maxNewTokens, ...decoding };
          const r = await engineClient().call('generate', request, (p) => put({ status: 'running', text: p.text }));
          put({ status: 'done', text: r.text, tokens: r.tokens, ms: r.ms });
        } catch (error) {
          put({ status: 'failed', text: errorMessage(error) });
        }
      }
    },
  };
});

// A new model in the worker releases the adapters trained on the previous one.
useModelStore.subscribe((s, prev) => {
  if (s.card !== prev.card && prev.card !== null && useRunStore.getState().weights) useRunStore.setState({ weights: false });
});

// A lost GPU device or a dead engine worker takes the trained adapters with it.
useEngineStore.subscribe((s, prev) => {
  // A hung worker may still answer (the notice then goes away): its weights count as gone only once it is restarted.
  if (s.notice !== null && s.notice.kind !== 'hung' && s.notice !== prev.notice && useRunStore.getState().weights) useRunStore.setState({ weights: false });
});

// The run the page shows (trained here, reopened, or restored after a reload) offers "Resume" when a checkpoint of it is stored.
useRunStore.subscribe((s, prev) => {
  const id = s.record ? runIdOf(s.record) : null;
  if (id === (prev.record ? runIdOf(prev.record) : null) || id === null || ACTIVE.includes(s.phase)) return;
  void loadCheckpoint(id).then(
    (stored) => {
      const now = useRunStore.getState().record;
      if (now && runIdOf(now) === id) useRunStore.setState({ checkpoint: stored ? { step: stored.step } : null });
    },
    () => undefined,
  );
});
