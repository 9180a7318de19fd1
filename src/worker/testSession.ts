// Tests only: a StudioSession in Node on the built-in model (kjv-llama-1m) and math data (T 64),
// each on its own device, as a page reloaded or reopened would have. Call `destroyTestDevices` in
// afterAll.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireNodeDevice } from '../gpu/node';
import { nodeDirectorySources } from '../io/nodeSource';
import type { StudioAssets } from './assets';
import { StudioSession } from './studioSession';

export const builtinAssets: StudioAssets = {
  modelFiles: (name) => nodeDirectorySources(join('public/models', name)),
  datasetText: (name, file) => readFile(join('public/datasets', name, file), 'utf8'),
};

const devices: GPUDevice[] = [];

export function destroyTestDevices(): void {
  for (const d of devices.splice(0)) d.destroy();
}

export async function openBuiltinSession(): Promise<StudioSession> {
  const session = new StudioSession({
    acquire: async () => {
      const acquired = await acquireNodeDevice({ defaultLimitsOnly: true });
      devices.push(acquired.device);
      return acquired;
    },
    assets: builtinAssets,
    post: () => undefined,
  });
  await session.loadBuiltinModel('kjv-llama-1m', undefined, () => undefined);
  await session.loadBuiltinDataset('math', { seqLen: 64, validationFraction: 0.1, seed: 1 });
  return session;
}
