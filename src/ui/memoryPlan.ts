// Whether the chosen comparison fits, from the per-method planning estimates: the shared base is
// held once, every method holds its own bases, adapter and AdamW state for the whole run, and one
// step's activations are live at a time (methods step one after another). Browsers do not expose
// GPU memory, so the hard check is the adapter's per-buffer limits; the total is compared with
// navigator.deviceMemory (coarse, RAM in GiB, capped at 8 by Chrome) only as a soft warning.
// Both choices of activation checkpointing are totalled, so the panel can show what it saves.
// When every chosen method keeps a base of its own (4-bit copies), the run frees the model's
// original projection weights during the inits (train/baseRelease.ts): the steps hold the base
// without them, the peak may then be the last init (the whole base, every earlier method's
// tensors, one layer's working copies), as train/memoryPlan.ts planRun counts it, and a note says so.
// With several seeds only the last one releases them (earlier seeds init from them again), so the
// earlier seeds' steps hold the whole base and set the peak.
// When every chosen method keeps a 4-bit base of its own (MethodEstimate.defersProjections), the
// run loads the model with deferred projections instead (every seed): no init holds the whole base,
// only one layer's W beside the tensors made so far, as planRun counts it with deferProjections.

import type { MethodEstimate } from '../worker/protocol';
import { formatBytes } from './format';

export interface ComparisonMemory {
  /** With the chosen checkpointing (the estimates' activationBytes). */
  readonly totalBytes: number;
  /** Without and with activation checkpointing. */
  readonly plainBytes: number;
  readonly checkpointedBytes: number;
  /** Problems that make the run fail (a buffer over the adapter's limits). */
  readonly errors: readonly string[];
  /** Likely problems (the total beyond the device's reported memory). */
  readonly warnings: readonly string[];
  /** The base weights freed during the inits (0: some method reads them). */
  readonly releasedBaseBytes: number;
  /** What the figures assume that a user would not guess (the release of the base). */
  readonly notes: readonly string[];
}

const GIB = 1024 ** 3;

export function comparisonMemory(
  estimates: readonly MethodEstimate[],
  limits: { readonly maxBufferSize: number; readonly maxStorageBufferBindingSize: number } | null,
  deviceMemoryGiB?: number,
  seeds = 1,
): ComparisonMemory | null {
  if (estimates.length === 0) return null;
  const shared = Math.max(...estimates.map((e) => e.sharedBaseBytes));
  const own = estimates.reduce((n, e) => n + e.ownBaseBytes + e.trainableBytes, 0);
  const releasedBaseBytes = estimates.every((e) => e.releasableBaseBytes > 0) ? Math.min(...estimates.map((e) => e.releasableBaseBytes)) : 0;
  const last = estimates[estimates.length - 1]!;
  const lastOwn = releasedBaseBytes > 0 && last.releasesDuringInit ? last.ownBaseBytes + last.trainableBytes : 0;
  const scratch = Math.max(...estimates.map((e) => e.initScratchBytes));
  const deferred = releasedBaseBytes > 0 && estimates.every((e) => e.defersProjections && e.releasesDuringInit);
  // Deferred, the last init's peak is at its last layer: every earlier method's tensors, its own bases and trainable values
  // (AdamW's state comes after), one layer's W and working copies; or the end of the inits.
  const layerWeight = Math.max(...estimates.map((e) => e.layerWeightBytes));
  const initBytes = deferred
    ? shared - releasedBaseBytes + own + Math.max(0, layerWeight + scratch - last.trainableBytes + last.gradientBytes)
    : shared + own - lastOwn + scratch;
  // Earlier seeds train with the whole base (but when deferred); only the last seed's steps hold it without the released weights.
  const stepBase = seeds > 1 && !deferred ? shared : shared - releasedBaseBytes;
  const withSteps = (activations: number) => Math.max(initBytes, stepBase + own + activations);
  const totalBytes = withSteps(Math.max(...estimates.map((e) => e.activationBytes)));
  const plainBytes = withSteps(Math.max(...estimates.map((e) => e.activationBytesPlain)));
  const checkpointedBytes = withSteps(Math.max(...estimates.map((e) => e.activationBytesCheckpointed)));
  const notes: string[] = [];
  if (deferred) {
    notes.push(
      `Every chosen method keeps a 4-bit base of its own, so the run loads the model again without its original projection weights (≈${formatBytes(releasedBaseBytes)}): ` +
        "each init reads a layer's weights from the model files while it quantizes it, and training holds that much less" +
        `${totalBytes === initBytes ? ' (the peak is the last init)' : ''}. The base model's validation loss reads them all back before the inits. ` +
        'A method that needs them, added mid-run, reads them again.',
    );
  } else if (releasedBaseBytes > 0) {
    notes.push(
      `Every chosen method keeps a 4-bit base of its own, so the model's original projection weights (≈${formatBytes(releasedBaseBytes)}) are released ` +
        (seeds > 1
          ? `during the last seed's inits: its training holds that much less, but the ${seeds - 1} seed${seeds > 2 ? 's' : ''} before it train${seeds > 2 ? '' : 's'} with them, so the peak does not drop. `
          : `during the inits: training holds that much less${totalBytes === initBytes ? ', and the peak is the last init, while they are still there' : ''}. `) +
        'Adding a method that needs them mid-run is then refused; the next comparison reloads the model.',
    );
  }
  const errors: string[] = [];
  const warnings: string[] = [];
  if (limits) {
    const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    const largest = estimates.map((e) => e.largestBuffer).reduce((a, b) => (b.bytes > a.bytes ? b : a));
    if (largest.bytes > limit) {
      errors.push(
        `Will not fit: ${largest.what} needs one ${formatBytes(largest.bytes)} buffer, over this GPU's ${formatBytes(limit)} limit per buffer. ` +
          'Lower the batch or the sequence length.',
      );
    }
  }
  if (deviceMemoryGiB !== undefined && deviceMemoryGiB > 0 && totalBytes > deviceMemoryGiB * GIB) {
    warnings.push(
      `May not fit: the comparison needs about ${formatBytes(totalBytes)} and this device reports ${deviceMemoryGiB} GiB of memory. ` +
        (checkpointedBytes < totalBytes && checkpointedBytes <= deviceMemoryGiB * GIB
          ? `Activation checkpointing would need about ${formatBytes(checkpointedBytes)}. `
          : '') +
        'Choose fewer methods, or lower the batch or the sequence length.',
    );
  }
  return { totalBytes, plainBytes, checkpointedBytes, errors, warnings, releasedBaseBytes, notes };
}
