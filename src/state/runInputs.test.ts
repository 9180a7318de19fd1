import { beforeEach, describe, expect, it } from 'vitest';
import { applyRunSettings, runMismatch } from './runInputs';
import { useDataStore } from './dataStore';
import { useModelStore } from './modelStore';
import { DEFAULT_SHARED, useSettingsStore } from './settingsStore';
import type { DatasetPreview, MethodInfo, ModelCard } from '../worker/protocol';

const method = (id: string, defaultSelected: boolean): MethodInfo => ({
  id,
  label: id.toUpperCase(),
  summary: '',
  paper: '',
  family: 'low-rank',
  claims: [],
  defaultSelected,
  settings: [
    { kind: 'number', key: 'rank', label: 'Rank', default: 8, min: 1, max: 64, help: '' },
    { kind: 'choice', key: 'init', label: 'Init', default: 'kaiming', options: ['kaiming', 'gaussian'], help: '' },
    { kind: 'boolean', key: 'rslora', label: 'rsLoRA', default: false, help: '' },
  ],
});

const card = (name: string, fingerprint: string): ModelCard => ({ name, fingerprint, layers: 2, hidden: 8, vocab: 16 }) as unknown as ModelCard;
const preview = (name: string, textHash: string): DatasetPreview => ({ name, textHash, train: 9, validation: 1 }) as unknown as DatasetPreview;

describe('putting a run back', () => {
  beforeEach(() => {
    useSettingsStore.setState({ methods: [], choices: {}, shared: DEFAULT_SHARED });
    useSettingsStore.getState().setMethods([method('first', true), method('second', false)]);
    useModelStore.setState({ card: null, loading: null });
    useDataStore.setState({ preview: null, loading: null });
  });

  it('ticks exactly the run’s methods with its settings; wrong types, unknown options and unknown methods are left out and said', () => {
    useSettingsStore.getState().setMethodSetting('first', 'rank', 32);
    const problems = applyRunSettings({
      lr: 0.002,
      steps: 7,
      targets: ['q', 'v'],
      batch: 'four',
      methods: [
        { id: 'second', settings: { rank: 4, init: 'gaussian', rslora: 'yes' } },
        { id: 'dropped-adapter', settings: {} },
      ],
    });
    const s = useSettingsStore.getState();
    expect(s.shared).toMatchObject({ lr: 0.002, steps: 7, targets: ['q', 'v'], batch: DEFAULT_SHARED.batch });
    expect(s.choices.first).toEqual({ enabled: false, settings: { rank: 32, init: 'kaiming', rslora: false } });
    expect(s.choices.second).toEqual({ enabled: true, settings: { rank: 4, init: 'gaussian', rslora: false } });
    expect(problems).toEqual(['dropped-adapter is not available now (drop the adapter again to use it)']);
    applyRunSettings({ methods: [{ id: 'second', settings: { init: 'orthogonal' } }] });
    expect(useSettingsStore.getState().choices.second!.settings.init).toBe('kaiming');
  });

  it('puts packing back as the run had it, and off for a run saved before the setting existed', () => {
    applyRunSettings({ packing: true, methods: [] });
    expect(useSettingsStore.getState().shared.packing).toBe(true);
    applyRunSettings({ steps: 3, methods: [] });
    expect(useSettingsStore.getState().shared.packing).toBe(false);
  });

  it('finds a mismatch by fingerprint and text hash, and none while loading or when they match', () => {
    const run = {
      modelInfo: { name: 'm', fingerprint: 'f1', layers: 2, hidden: 8, vocab: 16 },
      dataInfo: { name: 'd', hash: 'h1', train: 9, validation: 1 },
    };
    expect(runMismatch(run)).toBeNull();
    useModelStore.setState({ card: card('m copy', 'f1') });
    useDataStore.setState({ preview: preview('d', 'h1') });
    expect(runMismatch(run)).toBeNull();
    useModelStore.setState({ card: card('m', 'f2') });
    expect(runMismatch(run)?.model?.loaded.fingerprint).toBe('f2');
    expect(runMismatch(run)?.data).toBeUndefined();
    useDataStore.setState({ preview: preview('d', 'h2') });
    expect(runMismatch(run)?.data?.run.hash).toBe('h1');
    useModelStore.setState({ loading: { what: 'x', progress: null } });
    expect(runMismatch(run)).toBeNull();
  });
});
