// What the method-specific panels show, fed by the comparison's event stream (runStore forwards
// every event here): quantization errors per layer and iteration as the inits measure them, the
// adapted projections, SORSA's orthonormality, SPP's sparsity and the pool's live bytes per step,
// accuracy progress, methods added mid-way; plus spectra the page asks the worker for and the
// number of validation questions the results plot's accuracy comes from.

import { create } from 'zustand';
import { engineClient } from './engineStore';
import type { ComparisonEvent, DiagnosticPoint, MethodSettingValues, SpectrumResult } from '../worker/protocol';
import { errorMessage } from '../errors';

export interface QuantPoint {
  readonly method: string;
  readonly layer: string;
  readonly iteration: number;
  readonly frobenius: number;
  readonly nuclear: number;
  /** Exact singular values, or the randomized estimate of a large layer (with its stated bound). */
  readonly nuclearMethod?: 'exact' | 'randomized';
  readonly nuclearError?: number;
}

export interface TargetLayer {
  readonly name: string;
  readonly role: string;
  readonly out: number;
  readonly in: number;
}

export interface AccuracyProgress {
  readonly correct: number;
  readonly done: number;
  readonly total: number;
}

export type SpectrumState =
  { readonly status: 'running' } | { readonly status: 'done'; readonly result: SpectrumResult } | { readonly status: 'failed'; readonly message: string };

interface DiagnosticsState {
  readonly quant: readonly QuantPoint[];
  readonly layers: readonly TargetLayer[];
  readonly points: Readonly<Record<string, readonly DiagnosticPoint[]>>;
  readonly accuracy: Readonly<Record<string, AccuracyProgress>>;
  /** Methods added mid-way and the step they joined after. */
  readonly added: Readonly<Record<string, number>>;
  readonly addError: string | null;
  /** By `${method}|${layer}`. */
  readonly spectra: Readonly<Record<string, SpectrumState>>;
  reset: () => void;
  onEvent: (e: ComparisonEvent) => void;
  requestSpectrum: (method: string, layer: string) => Promise<void>;
  addMethod: (id: string, settings: MethodSettingValues) => Promise<void>;
}

export const spectrumKey = (method: string, layer: string): string => `${method}|${layer}`;

const EMPTY = { quant: [], layers: [], points: {}, accuracy: {}, added: {}, addError: null, spectra: {} };

export const useDiagnosticsStore = create<DiagnosticsState>()((set, get) => ({
  ...EMPTY,
  reset: () => set(EMPTY),
  onEvent: (e) => {
    const s = get();
    switch (e.type) {
      case 'init': {
        const q = e.progress.quantError;
        if (q) set({ quant: [...s.quant, { method: e.progress.method, layer: e.progress.layer, ...q }] });
        break;
      }
      case 'targets':
        set({ layers: e.layers });
        break;
      case 'diag':
        set({ points: { ...s.points, [e.method]: [...(s.points[e.method] ?? []), e.point] } });
        break;
      case 'accuracy':
        set({ accuracy: { ...s.accuracy, [e.method]: { correct: e.correct, done: e.done, total: e.total } } });
        break;
      case 'added':
        set({ added: { ...s.added, [e.method]: e.step } });
        break;
      default:
        break;
    }
  },
  requestSpectrum: async (method, layer) => {
    const key = spectrumKey(method, layer);
    set({ spectra: { ...get().spectra, [key]: { status: 'running' } } });
    try {
      const result = await engineClient().call('spectrum', { method, layer });
      set({ spectra: { ...get().spectra, [key]: { status: 'done', result } } });
    } catch (error) {
      set({ spectra: { ...get().spectra, [key]: { status: 'failed', message: errorMessage(error) } } });
    }
  },
  addMethod: async (id, settings) => {
    set({ addError: null });
    try {
      await engineClient().call('addMethod', { id, settings });
    } catch (error) {
      set({ addError: errorMessage(error) });
    }
  },
}));
