// Opening the studio: once the engine is up, fetch the method list, then restore the workspace
// (workspace.ts): the last settings, run, model and data, or the built-in model and data set on a
// first visit, so everything works with no download. Runs once per page.

import { engineClient } from './engineStore';
import { useModelStore } from './modelStore';
import { useSettingsStore } from './settingsStore';
import { restoreWorkspace } from './workspace';
import { errorMessage } from '../errors';

export { datasetParams } from './dataStore';

let started = false;

export async function openStudio(): Promise<void> {
  if (started) return;
  started = true;
  try {
    useSettingsStore.getState().setMethods(await engineClient().call('methods', {}));
  } catch (error) {
    useModelStore.setState({ error: { what: 'methods', message: errorMessage(error) } });
  }
  await restoreWorkspace();
}
