// Test helper: a fixture model from test/fixtures/ loaded onto the GPU.

import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import type { CausalLM } from '../models/causalLM';
import { loadCausalLM } from '../models/load';
import type { Runtime } from '../tensor/values';

export async function modelFiles(rt: Runtime, fixture: string): Promise<CausalLM> {
  return loadCausalLM(rt, await openModelFiles(await nodeDirectorySources(`test/fixtures/${fixture}`)));
}
