// What the user chose before a run: which methods with which settings (forms built from each
// method's schema, which the worker sends), and the shared knobs every method trains with.
// Pure UI state: nothing here talks to the worker; runStore reads it when a run starts.

import { create } from 'zustand';
import type { ComparisonParams, MethodInfo, ScheduleKind, SettingValue } from '../worker/protocol';

export interface MethodChoice {
  readonly enabled: boolean;
  readonly settings: Readonly<Record<string, SettingValue>>;
}

export interface SharedSettings {
  /** Projection roles, or ['all']. */
  readonly targets: readonly string[];
  readonly lr: number;
  readonly schedule: ScheduleKind;
  readonly warmup: number;
  readonly steps: number;
  readonly batch: number;
  readonly seqLen: number;
  readonly seed: number;
  readonly evalEvery: number;
  readonly clipNorm: number;
  readonly validationRows: number;
  readonly validationFraction: number;
  /** Validation questions answered greedily per method after the last step (data with "####" answers). */
  readonly accuracyQuestions: number;
  /** Recompute each block's activations in backward: less memory, one more forward pass. */
  readonly checkpointing: boolean;
}

export const DEFAULT_SHARED: SharedSettings = {
  targets: ['all'],
  lr: 5e-4,
  schedule: 'cosine',
  warmup: 0,
  steps: 60,
  batch: 8,
  seqLen: 96,
  seed: 0,
  evalEvery: 10,
  clipNorm: 1,
  validationRows: 32,
  validationFraction: 0.1,
  accuracyQuestions: 20,
  checkpointing: false,
};

interface SettingsState {
  readonly methods: readonly MethodInfo[];
  readonly choices: Readonly<Record<string, MethodChoice>>;
  readonly shared: SharedSettings;
  setMethods: (methods: readonly MethodInfo[]) => void;
  toggleMethod: (id: string, enabled: boolean) => void;
  setMethodSetting: (id: string, key: string, value: SettingValue) => void;
  resetMethod: (id: string) => void;
  setShared: (patch: Partial<SharedSettings>) => void;
}

export function defaultSettings(method: MethodInfo): Record<string, SettingValue> {
  return Object.fromEntries(method.settings.map((s) => [s.key, s.default]));
}

export const useSettingsStore = create<SettingsState>()((set, get) => ({
  methods: [],
  choices: {},
  shared: DEFAULT_SHARED,

  setMethods: (methods) => {
    const old = get().choices;
    const choices: Record<string, MethodChoice> = {};
    for (const m of methods) choices[m.id] = old[m.id] ?? { enabled: m.defaultSelected, settings: defaultSettings(m) };
    set({ methods, choices });
  },
  toggleMethod: (id, enabled) => {
    const choice = get().choices[id];
    if (choice) set({ choices: { ...get().choices, [id]: { ...choice, enabled } } });
  },
  setMethodSetting: (id, key, value) => {
    const choice = get().choices[id];
    if (choice) set({ choices: { ...get().choices, [id]: { ...choice, settings: { ...choice.settings, [key]: value } } } });
  },
  resetMethod: (id) => {
    const method = get().methods.find((m) => m.id === id);
    const choice = get().choices[id];
    if (method && choice) set({ choices: { ...get().choices, [id]: { ...choice, settings: defaultSettings(method) } } });
  },
  setShared: (patch) => set({ shared: { ...get().shared, ...patch } }),
}));

/** The chosen methods in registry order, with their settings. */
export function chosenMethods(state: Pick<SettingsState, 'methods' | 'choices'>): { id: string; settings: Readonly<Record<string, SettingValue>> }[] {
  return state.methods.filter((m) => state.choices[m.id]?.enabled).map((m) => ({ id: m.id, settings: state.choices[m.id]!.settings }));
}

export function comparisonParams(state: Pick<SettingsState, 'methods' | 'choices' | 'shared'>): ComparisonParams {
  return { ...state.shared, methods: chosenMethods(state) };
}
