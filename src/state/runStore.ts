// The comparison: its phase, each method's init progress, its curves as they stream in (one
// point per step, validation losses), halts, the final summary, and generations from the
// trained methods. Chart components derive their rows from `series` and `evals`.

import { create } from 'zustand';
import { engineClient } from './engineStore';
import { useDiagnosticsStore } from './diagnosticsStore';
import type { ComparisonEvent, ComparisonParams, ComparisonResult, InitProgress, StepPoint } from '../worker/protocol';
import { errorMessage } from '../errors';

export type RunPhase = 'idle' | 'initialising' | 'running' | 'paused' | 'stopping' | 'done' | 'stopped' | 'failed';

export interface MethodReady {
  readonly trainableParams: number;
  readonly bytes: number;
  readonly initMs: number;
}

export interface Generation {
  readonly status: 'running' | 'done' | 'failed';
  readonly text: string;
  readonly tokens?: number;
  readonly ms?: number;
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
  /** The frozen base model's validation loss before training (the charts' "base" at step 0). */
  readonly baseVal: number | null;
  readonly result: ComparisonResult | null;
  readonly generations: Readonly<Record<string, Generation>>;
  start: (params: ComparisonParams) => Promise<void>;
  pause: () => Promise<void>;
  resume: () => Promise<void>;
  stop: () => Promise<void>;
  generate: (methodIds: readonly (string | null)[], prompt: string, maxNewTokens: number) => Promise<void>;
}

export const BASE_MODEL_KEY = 'base';

export const useRunStore = create<RunState>()((set, get) => {
  const onEvent = (e: ComparisonEvent): void => {
    useDiagnosticsStore.getState().onEvent(e);
    const s = get();
    switch (e.type) {
      case 'data':
        set({ data: { train: e.train, validation: e.validation, stepsPerEpoch: e.stepsPerEpoch } });
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
        set({ halted: { ...s.halted, [e.method]: e.reason } });
        break;
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
    result: null,
    generations: {},

    start: async (params) => {
      const phase = get().phase;
      if (phase === 'initialising' || phase === 'running' || phase === 'paused' || phase === 'stopping') return;
      useDiagnosticsStore.getState().reset();
      set({
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
        result: null,
        generations: {},
      });
      try {
        const result = await engineClient().call('startComparison', params, onEvent);
        set({ phase: result.stopped ? 'stopped' : 'done', result });
      } catch (error) {
        set({ phase: 'failed', error: errorMessage(error) });
      }
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
    generate: async (methodIds, prompt, maxNewTokens) => {
      for (const id of methodIds) {
        const key = id ?? BASE_MODEL_KEY;
        const put = (g: Generation) => set({ generations: { ...get().generations, [key]: g } });
        put({ status: 'running', text: '' });
        try {
          const r = await engineClient().call('generate', { methodId: id ?? undefined, prompt, maxNewTokens }, (p) => put({ status: 'running', text: p.text }));
          put({ status: 'done', text: r.text, tokens: r.tokens, ms: r.ms });
        } catch (error) {
          put({ status: 'failed', text: errorMessage(error) });
        }
      }
    },
  };
});
