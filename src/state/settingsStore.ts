// What the user chose before a run: which methods with which settings (forms built from each
// method's schema, which the worker sends), and the shared knobs every method trains with.
// Pure UI state: nothing here talks to the worker; runStore reads it when a run starts. Also the
// studio's layout state (folded sections, opened method rows, hidden chart series).

import { create } from 'zustand';
import type { ComparisonParams, MethodInfo, ScheduleKind, SettingValue } from '../worker/protocol';
import { DEFAULT_SAMPLE_FIELDS, type SampleFields } from '../worker/sampleSettings';

export interface MethodChoice {
  readonly enabled: boolean;
  readonly settings: Readonly<Record<string, SettingValue>>;
}

/** The shared knobs; the sample* fields are the samples taken at each validation step (worker/sampleSettings.ts). */
export interface SharedSettings extends SampleFields {
  /** Projection roles, or ['all']. */
  readonly targets: readonly string[];
  readonly lr: number;
  readonly schedule: ScheduleKind;
  readonly warmup: number;
  readonly steps: number;
  readonly batch: number;
  readonly seqLen: number;
  /** Pack whole training examples into rows of T instead of one padded example per row. */
  readonly packing: boolean;
  readonly seed: number;
  /** Repeats of the comparison, with seed, seed + 1, … (1: once). */
  readonly seeds: number;
  readonly evalEvery: number;
  readonly clipNorm: number;
  readonly validationRows: number;
  readonly validationFraction: number;
  /** Validation questions answered greedily per method after the last step (data with "####" answers). */
  readonly accuracyQuestions: number;
  /** Recompute each block's activations in backward: less memory, one more forward pass. */
  readonly checkpointing: boolean;
  /** A checkpoint every N steps, kept in the browser for "Resume from the last checkpoint" (0: only when paused or stopped). */
  readonly checkpointEvery: number;
}

export const DEFAULT_SHARED: SharedSettings = {
  ...DEFAULT_SAMPLE_FIELDS,
  targets: ['all'],
  lr: 5e-4,
  schedule: 'cosine',
  warmup: 0,
  steps: 60,
  batch: 8,
  seqLen: 96,
  packing: false,
  seed: 0,
  seeds: 1,
  evalEvery: 10,
  clipNorm: 1,
  validationRows: 32,
  validationFraction: 0.1,
  accuracyQuestions: 20,
  checkpointing: false,
  checkpointEvery: 0,
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
  /** Layout, not run settings: set-up sections folded away, method rows opened, chart series hidden. */
  readonly collapsed: Readonly<Record<string, boolean>>;
  readonly expandedMethods: readonly string[];
  readonly hiddenSeries: readonly string[];
  setCollapsed: (section: string, collapsed: boolean) => void;
  setMethodExpanded: (id: string, expanded: boolean) => void;
  setHiddenSeries: (hidden: readonly string[]) => void;
}

/** Set-up sections folded when the studio opens (the GPU's name also shows in the header and the section's title). */
export const DEFAULT_COLLAPSED: Readonly<Record<string, boolean>> = { gpu: true, selftest: true };

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

  collapsed: DEFAULT_COLLAPSED,
  expandedMethods: [],
  hiddenSeries: [],
  setCollapsed: (section, collapsed) => set({ collapsed: { ...get().collapsed, [section]: collapsed } }),
  setMethodExpanded: (id, expanded) => {
    const others = get().expandedMethods.filter((m) => m !== id);
    set({ expandedMethods: expanded ? [...others, id] : others });
  },
  setHiddenSeries: (hiddenSeries) => set({ hiddenSeries }),
}));

/** The chosen methods in registry order, with their settings. */
export function chosenMethods(state: Pick<SettingsState, 'methods' | 'choices'>): { id: string; settings: Readonly<Record<string, SettingValue>> }[] {
  return state.methods.filter((m) => state.choices[m.id]?.enabled).map((m) => ({ id: m.id, settings: state.choices[m.id]!.settings }));
}

export function comparisonParams(state: Pick<SettingsState, 'methods' | 'choices' | 'shared'>): ComparisonParams {
  return { ...state.shared, methods: chosenMethods(state) };
}
