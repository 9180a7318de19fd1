// Bookkeeping for the diagnostics of the running (or last) comparison: each method's adapted
// model and steps, and the cached "before" spectra. The run measures after its steps; spectra the
// page asks for are served between steps through the run's command queue (studioRun.ts), or at
// once after the run (studioSession.ts), so they never interleave with a step's recording.
// Not here: the measurements themselves (diagnostics.ts) or when they run.

import type { AdaptedModel } from '../adapters/types';
import { StudioError } from '../errors';
import type { GpuContext } from '../gpu/context';
import { orthoOf, sparsityOf, spectrum } from './diagnostics';
import type { DiagnosticPoint, SpectrumResult } from './protocol';

interface Entry {
  readonly adapted: AdaptedModel;
  steps: number;
}

export class RunDiagnostics {
  private readonly entries = new Map<string, Entry>();
  private readonly beforeCache = new Map<string, number[]>();

  constructor(private readonly rt: GpuContext) {}

  /** Snapshots a method that just became ready; returns its step-0 measurements. */
  register(id: string, adapted: AdaptedModel): Promise<DiagnosticPoint> {
    this.entries.set(id, { adapted, steps: 0 });
    return this.measure(id, 0, true, true);
  }

  /** SORSA's orthonormality and/or SPP's sparsity now, with the pool's live bytes. */
  async measure(id: string, step: number, ortho: boolean, sparsity: boolean): Promise<DiagnosticPoint> {
    const { rt } = this;
    const e = this.entries.get(id);
    if (!e) return { step, poolBytes: rt.stats().liveBytes };
    e.steps = step;
    const o = ortho ? await orthoOf(rt, e.adapted) : undefined;
    const s = sparsity ? await sparsityOf(rt, e.adapted) : undefined;
    return { step, poolBytes: rt.stats().liveBytes, ...(o === undefined ? {} : { ortho: o }), ...(s === undefined ? {} : { sparsity: s }) };
  }

  /** Marks `id`'s steps without measuring (for the spectrum's "after step N" label). */
  noteSteps(id: string, steps: number): void {
    const e = this.entries.get(id);
    if (e) e.steps = steps;
  }

  /** σ before and now of one projection of a method (run it between steps). */
  async spectrum(method: string, layer: string): Promise<SpectrumResult> {
    const e = this.entries.get(method);
    if (!e) throw new StudioError(`${method} is not in the running or last comparison; start one first`);
    const key = `${method}|${layer}`;
    const result = await spectrum(this.rt, method, e.adapted, layer, this.beforeCache.get(key), e.steps);
    this.beforeCache.set(key, [...result.before]);
    return result;
  }
}
