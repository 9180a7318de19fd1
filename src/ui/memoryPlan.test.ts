import { describe, expect, it } from 'vitest';
import type { MethodEstimate } from '../worker/protocol';
import { comparisonMemory } from './memoryPlan';

const MIB = 1024 * 1024;

function estimate(id: string, own: number, trainable: number, activations: number, largest = 1 * MIB, releasable = 0, defers = false): MethodEstimate {
  const shared = 100 * MIB;
  return {
    releasableBaseBytes: releasable,
    initScratchBytes: own > 0 ? 4 * MIB : 0,
    releasesDuringInit: releasable > 0,
    defersProjections: defers,
    layerWeightBytes: 8 * MIB,
    gradientBytes: trainable / 4,
    id,
    trainableParams: trainable / 16,
    weightBytes: shared + own,
    sharedBaseBytes: shared,
    ownBaseBytes: own,
    trainableBytes: trainable,
    activationBytes: activations,
    activationBytesPlain: activations,
    activationBytesCheckpointed: activations / 4,
    totalBytes: shared + own + trainable + activations,
    largestBuffer: { bytes: largest, what: 'the logits (8×1024 tokens × 50257 vocabulary)' },
  };
}

describe('comparison memory plan', () => {
  it('counts the shared base once, every method its own, and one step of activations', () => {
    const plan = comparisonMemory([estimate('adapter', 0, 2 * MIB, 30 * MIB), estimate('residual', 10 * MIB, 2 * MIB, 40 * MIB)], {
      maxBufferSize: 256 * MIB,
      maxStorageBufferBindingSize: 128 * MIB,
    });
    expect(plan!.totalBytes).toBe(100 * MIB + 14 * MIB + 40 * MIB);
    expect(plan!.plainBytes).toBe(plan!.totalBytes);
    expect(plan!.checkpointedBytes).toBe(100 * MIB + 14 * MIB + 10 * MIB);
    expect(plan!.errors).toEqual([]);
    expect(plan!.warnings).toEqual([]);
  });

  it('takes the released base off the steps when every method keeps a 4-bit base of its own, and says so', () => {
    const limits = { maxBufferSize: 256 * MIB, maxStorageBufferBindingSize: 128 * MIB };
    const fourBit = estimate('fourBit', 10 * MIB, 2 * MIB, 30 * MIB, MIB, 80 * MIB);
    const fourBitResidual = estimate('fourBitResidual', 12 * MIB, 2 * MIB, 40 * MIB, MIB, 80 * MIB);
    const plan = comparisonMemory([fourBit, fourBitResidual], limits)!;
    expect(plan.releasedBaseBytes).toBe(80 * MIB);
    // Steps: base without its projections, both methods' own tensors, the larger step.
    const steps = 100 * MIB - 80 * MIB + 26 * MIB + 40 * MIB;
    // The last init starts with the whole base, the first method's tensors and one layer's working copies.
    const init = 100 * MIB + 12 * MIB + 4 * MIB;
    expect(plan.totalBytes).toBe(Math.max(steps, init));
    expect(plan.totalBytes).toBe(init);
    expect(plan.checkpointedBytes).toBe(init);
    expect(plan.notes).toHaveLength(1);
    expect(plan.notes[0]).toContain('released during the inits');
    expect(plan.notes[0]).toContain('the peak is the last init');
    // One method that reads the shared base: nothing is released, no note.
    const kept = comparisonMemory([fourBit, estimate('adapter', 0, 2 * MIB, 30 * MIB)], limits)!;
    expect(kept.releasedBaseBytes).toBe(0);
    expect(kept.notes).toEqual([]);
    expect(kept.totalBytes).toBe(100 * MIB + 14 * MIB + 30 * MIB);
  });

  it("with several seeds, counts the earlier seeds' steps with the whole base (only the last seed releases it)", () => {
    const limits = { maxBufferSize: 256 * MIB, maxStorageBufferBindingSize: 128 * MIB };
    const fourBit = estimate('fourBit', 10 * MIB, 2 * MIB, 90 * MIB, MIB, 80 * MIB);
    const one = comparisonMemory([fourBit], limits, undefined, 1)!;
    const three = comparisonMemory([fourBit], limits, undefined, 3)!;
    expect(one.totalBytes).toBe(100 * MIB - 80 * MIB + 12 * MIB + 90 * MIB);
    expect(three.totalBytes).toBe(100 * MIB + 12 * MIB + 90 * MIB);
    expect(three.releasedBaseBytes).toBe(80 * MIB);
    expect(three.notes[0]).toContain('the 2 seeds before it train with them');
  });

  it('4-bit methods only: the model is loaded with deferred projections, so no init holds the whole base, in every seed', () => {
    const limits = { maxBufferSize: 256 * MIB, maxStorageBufferBindingSize: 128 * MIB };
    const fourBit = estimate('fourBit', 10 * MIB, 2 * MIB, 30 * MIB, MIB, 80 * MIB, true);
    const fourBitResidual = estimate('fourBitResidual', 12 * MIB, 4 * MIB, 40 * MIB, MIB, 80 * MIB, true);
    const plan = comparisonMemory([fourBit, fourBitResidual], limits)!;
    // The last init at its last layer: the base less its projections, both methods' own bases, the first one's trainables,
    // the last one's values (a quarter of its trainable bytes: no AdamW state yet), one layer's W and working copies.
    const init = 20 * MIB + 10 * MIB + 2 * MIB + 12 * MIB + MIB + 8 * MIB + 4 * MIB;
    const steps = 20 * MIB + 28 * MIB + 40 * MIB;
    expect(plan.totalBytes).toBe(Math.max(init, steps));
    expect(plan.totalBytes).toBeLessThan(comparisonMemory([{ ...fourBit, defersProjections: false }, fourBitResidual], limits)!.totalBytes);
    expect(plan.notes).toHaveLength(1);
    expect(plan.notes[0]).toContain('loads the model again without its original projection weights (≈80.0 MiB)');
    expect(comparisonMemory([fourBit, fourBitResidual], limits, undefined, 3)!.totalBytes).toBe(plan.totalBytes);
    // With a method that reads the shared base, nothing is deferred.
    const mixed = comparisonMemory([fourBit, estimate('adapter', 0, 2 * MIB, 30 * MIB)], limits)!;
    expect(mixed.releasedBaseBytes).toBe(0);
    expect(mixed.totalBytes).toBe(100 * MIB + 14 * MIB + 30 * MIB);
  });

  it('refuses a step whose largest buffer is over the binding limit', () => {
    const plan = comparisonMemory([estimate('adapter', 0, MIB, MIB, 200 * MIB)], { maxBufferSize: 256 * MIB, maxStorageBufferBindingSize: 128 * MIB });
    expect(plan!.errors).toHaveLength(1);
    expect(plan!.errors[0]).toContain('the logits');
    expect(plan!.errors[0]).toContain('128.0 MiB limit per buffer');
  });

  it('warns when the total is beyond the memory the device reports', () => {
    const plan = comparisonMemory([estimate('copy', 1024 * MIB, 2048 * MIB, 64 * MIB)], null, 2);
    expect(plan!.errors).toEqual([]);
    expect(plan!.warnings[0]).toMatch(/^May not fit/);
    expect(comparisonMemory([], null, 2)).toBeNull();
  });
});
