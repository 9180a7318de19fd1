// What a shown run needs from the set-up: its settings put back into the form, and the model and
// data it trained on, loaded again where the browser has them (the built-in ones, a model kept in
// OPFS under the same name, the last data file kept there). Also whether the loaded model or
// data differs from the run's, which the run banner says.

import { BUILTIN_DATASETS, datasetParams, useDataStore } from './dataStore';
import { BUILTIN_MODEL, useModelStore } from './modelStore';
import { useModelCacheStore } from './modelCacheStore';
import { dataIdentity, modelIdentity } from './runStore';
import { DEFAULT_SHARED, useSettingsStore, type SharedSettings } from './settingsStore';
import { sameData, sameModel, type DataIdentity, type ModelIdentity } from '../io/runIdentity';
import { cachedDataFile } from '../io/opfsCache';
import type { RunRecord } from '../io/runRecord';
import type { SettingSpec, SettingValue } from '../worker/protocol';

export interface Mismatch {
  readonly model?: { readonly run: ModelIdentity; readonly loaded: ModelIdentity };
  readonly data?: { readonly run: DataIdentity; readonly loaded: DataIdentity };
}

/** How the loaded model and data differ from the run's; null while either is loading or when both match. */
export function runMismatch(run: { readonly modelInfo?: ModelIdentity; readonly dataInfo?: DataIdentity } | null): Mismatch | null {
  if (!run) return null;
  const model = useModelStore.getState();
  const data = useDataStore.getState();
  if (model.loading || data.loading || !model.card) return null;
  const out: { model?: Mismatch['model']; data?: Mismatch['data'] } = {};
  const loadedModel = modelIdentity(model.card);
  if (run.modelInfo && !sameModel(run.modelInfo, loadedModel)) out.model = { run: run.modelInfo, loaded: loadedModel };
  if (run.dataInfo && data.preview) {
    const loadedData = dataIdentity(data.preview);
    if (!sameData(run.dataInfo, loadedData)) out.data = { run: run.dataInfo, loaded: loadedData };
  }
  return out.model || out.data ? out : null;
}

function fits(spec: SettingSpec | undefined, value: unknown): value is SettingValue {
  if (!spec) return false;
  if (spec.kind === 'choice') return typeof value === 'string' && spec.options.includes(value);
  return spec.kind === 'number' ? typeof value === 'number' && Number.isFinite(value) : typeof value === 'boolean';
}

/** Sets the shared knobs `values` has with the right type; others keep their value. */
export function applyShared(values: Readonly<Record<string, unknown>>): void {
  const patch: Record<string, unknown> = {};
  for (const [key, fallback] of Object.entries(DEFAULT_SHARED)) {
    // A run saved before the seeds setting ran one seed.
    const v = values[key] ?? (key === 'seeds' && 'seed' in values ? 1 : undefined);
    if (v === undefined) continue;
    const ok = Array.isArray(fallback) ? Array.isArray(v) && v.every((x) => typeof x === 'string') : typeof v === typeof fallback;
    if (ok) patch[key] = v;
  }
  useSettingsStore.getState().setShared(patch as Partial<SharedSettings>);
}

/**
 * Ticks exactly the listed methods (or, with `enabled` given, as it says) and sets their settings
 * over the defaults (settings the method no longer has, or of the wrong type, are left out).
 * Returns the ids of listed methods the studio does not offer now.
 */
export function applyMethods(
  list: readonly { readonly id: string; readonly enabled?: boolean; readonly settings: Readonly<Record<string, unknown>> }[],
): string[] {
  const settings = useSettingsStore.getState();
  for (const info of settings.methods) {
    const chosen = list.find((m) => m.id === info.id);
    settings.toggleMethod(info.id, chosen !== undefined && chosen.enabled !== false);
    if (!chosen) continue;
    settings.resetMethod(info.id);
    const specs = new Map(info.settings.map((s) => [s.key, s]));
    for (const [key, value] of Object.entries(chosen.settings)) if (fits(specs.get(key), value)) settings.setMethodSetting(info.id, key, value);
  }
  return list.filter((m) => m.enabled !== false && !settings.methods.some((i) => i.id === m.id)).map((m) => m.id);
}

/**
 * Puts a run's settings into the form: the shared knobs it had, and exactly its methods ticked with
 * their settings. Returns what could not be put back (methods no longer listed, e.g. an adapter
 * dropped in an earlier visit), in words.
 */
export function applyRunSettings(params: RunRecord['params']): string[] {
  // A run saved before the packing setting trained one example per row.
  applyShared({ packing: false, ...params });
  const missing = applyMethods(params.methods);
  return missing.length ? [`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not available now (drop the adapter again to use it)`] : [];
}

/** Whether the browser can load the run's model and data again without a drop (built-in, or kept in OPFS). */
export function inputsAvailable(run: { readonly modelInfo?: ModelIdentity; readonly dataInfo?: DataIdentity }, mismatch: Mismatch): boolean {
  const modelOk = !mismatch.model || modelSource(mismatch.model.run) !== null;
  const dataOk = !mismatch.data || dataSource(mismatch.data.run) !== null;
  return Boolean(run.modelInfo || run.dataInfo) && modelOk && dataOk;
}

function modelSource(m: ModelIdentity): { kind: 'builtin' } | { kind: 'cached'; key: string } | null {
  if (m.name === `${BUILTIN_MODEL} (built-in)`) return { kind: 'builtin' };
  const cached = useModelCacheStore.getState().models.find((c) => c.name === m.name);
  return cached ? { kind: 'cached', key: cached.key } : null;
}

function dataSource(d: DataIdentity): { kind: 'builtin'; id: string } | { kind: 'file' } | null {
  const builtin = BUILTIN_DATASETS.find((b) => d.name === `${b.id} (built-in)`);
  if (builtin) return { kind: 'builtin', id: builtin.id };
  return useDataStore.getState().keptFile === d.name ? { kind: 'file' } : null;
}

/**
 * Loads the run's model and data where they differ from the loaded ones and the browser has them.
 * Returns what could not be loaded, in words (empty: the set-up now matches the run).
 */
export async function loadRunInputs(run: { readonly modelInfo?: ModelIdentity; readonly dataInfo?: DataIdentity }): Promise<string[]> {
  const problems: string[] = [];
  const first = runMismatch(run);
  if (first?.model) {
    const source = modelSource(first.model.run);
    const ok =
      source?.kind === 'builtin'
        ? await useModelStore.getState().loadBuiltin()
        : source?.kind === 'cached'
          ? await useModelCacheStore.getState().loadCached(source.key)
          : false;
    if (!source) problems.push(`the model ${first.model.run.name} is not kept in this browser: drop its folder`);
    else if (!ok) problems.push(`the model ${first.model.run.name} did not load (see Model)`);
  }
  const second = runMismatch(run);
  if (second?.data) {
    const source = dataSource(second.data.run);
    if (source?.kind === 'builtin') await useDataStore.getState().loadBuiltin(source.id, datasetParams());
    else if (source?.kind === 'file') {
      const file = await cachedDataFile();
      if (file) await useDataStore.getState().loadFile(file, datasetParams(), true);
      else problems.push(`the data file ${second.data.run.name} is no longer kept in this browser: drop it again`);
    } else problems.push(`the data ${second.data.run.name} is not kept in this browser: drop the file`);
  }
  const last = runMismatch(run);
  if (problems.length === 0 && last?.model) problems.push(`the loaded model differs from the run's (${last.model.run.name}): its weights changed`);
  if (problems.length === 0 && last?.data) problems.push(`the loaded data differs from the run's (${last.data.run.name}): its text changed`);
  return problems;
}
