// Whether the chosen comparison fits, from the per-method planning estimates: the shared base is
// held once, every method holds its own bases, adapter and AdamW state for the whole run, and one
// step's activations are live at a time (methods step one after another). Browsers do not expose
// GPU memory, so the hard check is the adapter's per-buffer limits; the total is compared with
// navigator.deviceMemory (coarse, RAM in GiB, capped at 8 by Chrome) only as a soft warning.
// Both choices of activation checkpointing are totalled, so the panel can show what it saves.

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
}

const GIB = 1024 ** 3;

export function comparisonMemory(
  estimates: readonly MethodEstimate[],
  limits: { readonly maxBufferSize: number; readonly maxStorageBufferBindingSize: number } | null,
  deviceMemoryGiB?: number,
): ComparisonMemory | null {
  if (estimates.length === 0) return null;
  const shared = Math.max(...estimates.map((e) => e.sharedBaseBytes));
  const own = estimates.reduce((n, e) => n + e.ownBaseBytes + e.trainableBytes, 0);
  const activations = Math.max(...estimates.map((e) => e.activationBytes));
  const totalBytes = shared + own + activations;
  const plainBytes = shared + own + Math.max(...estimates.map((e) => e.activationBytesPlain));
  const checkpointedBytes = shared + own + Math.max(...estimates.map((e) => e.activationBytesCheckpointed));
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
  return { totalBytes, plainBytes, checkpointedBytes, errors, warnings };
}
