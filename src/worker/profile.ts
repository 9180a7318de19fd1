// The studio's "Profile a training step": the same profile as `npm run bench -- --profile`
// (src/bench/profile.ts) on the model the studio has loaded (the built-in one unless the user
// dropped another), with a synthetic batch of B×T in-vocabulary ids. The session runs it as an
// exclusive GPU job, so it waits for a running comparison to finish and never shares the GPU with
// one. Each profiled method makes its own adapter (or, for full fine-tuning, its own copy of the
// weights) and releases it afterwards; the loaded model is not changed.

import { runTrainingProfile } from '../bench/profile';
import type { GpuContext } from '../gpu/context';
import type { ProfileParams, ProfileProgress, ProfileReport } from './protocol';
import type { LoadedModel } from './studioModel';

export async function profileTraining(
  ctx: GpuContext,
  loaded: LoadedModel,
  params: ProfileParams,
  progress: (p: ProfileProgress) => void,
): Promise<ProfileReport> {
  return runTrainingProfile(ctx, loaded.model, loaded.card.name, params, progress);
}
