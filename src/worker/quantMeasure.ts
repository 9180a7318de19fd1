// The quantization-error measurements of the running comparison (QLoRA, QPiSSA, LoftQ): their
// inits only keep what measuring needs (AdaptedModel.measureQuantErrors), so training starts as
// soon as every method is ready, and the studio measures here, between training steps: after each
// step, for about as long as that step took (training keeps at least half the time), a few layers
// per call so the budget is checked often; while paused, a few layers per wake-up; and whatever
// is left once the last step is done. Each measured point reaches the page as an 'init' event
// with phase 'measure' through the method's onProgress (the live chart fills in as before).
// Not here: what is measured or how (linalg/quantInit.ts, norms.ts).

import type { AdaptedModel } from '../adapters/types';
import type { GpuContext } from '../gpu/context';

/** Layers per measureQuantErrors call: its shape batches stay large, the step budget is checked often. */
const LAYERS_PER_CALL = 4;

export class PendingMeasurements {
  private readonly queue: AdaptedModel[] = [];

  /** Queues a method that just became ready, if it measures anything. */
  add(adapted: AdaptedModel): void {
    if (adapted.measureQuantErrors) this.queue.push(adapted);
  }

  get pending(): boolean {
    return this.queue.length > 0;
  }

  /** Measures for about `budgetMs` (at least one call while anything is pending); Infinity: all. */
  async run(rt: GpuContext, budgetMs: number): Promise<void> {
    const start = performance.now();
    do {
      const adapted = this.queue[0];
      if (!adapted) return;
      const report = await adapted.measureQuantErrors!(rt, { maxLayers: LAYERS_PER_CALL });
      if (report.pending === 0) this.queue.shift();
    } while (performance.now() - start < budgetMs);
  }

  /** Forgets the queue (the methods' release() frees what they kept). */
  clear(): void {
    this.queue.length = 0;
  }
}
