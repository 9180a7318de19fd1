// Opening the studio: once the engine is up, fetch the method list, load the built-in model and
// then the built-in data set, so everything works with no download. Runs once per page.

import { useDataStore } from './dataStore';
import { engineClient } from './engineStore';
import { useModelStore } from './modelStore';
import { useSettingsStore } from './settingsStore';
import { errorMessage } from '../errors';

let started = false;

export function datasetParams(): { seqLen: number; validationFraction: number; seed: number } {
  const { seqLen, validationFraction, seed } = useSettingsStore.getState().shared;
  return { seqLen, validationFraction, seed };
}

export async function openStudio(): Promise<void> {
  if (started) return;
  started = true;
  try {
    useSettingsStore.getState().setMethods(await engineClient().call('methods', {}));
  } catch (error) {
    useModelStore.setState({ error: { what: 'methods', message: errorMessage(error) } });
  }
  if (await useModelStore.getState().loadBuiltin()) {
    await useDataStore.getState().loadBuiltin('math', datasetParams());
  }
}
