// Tests of both variants of the cross-entropy reductions (src/kernels/crossEntropy.ts: `serial`,
// one invocation per row and one for the mean; `workgroup`, tree reductions with barriers) against
// float64: the saved row maxima, Σexp and row losses, the count and the mean loss, at 1, 7, 33 and
// 100 rows and vocabularies from 1 to 1000 (wider than a workgroup, and not multiples of 4 for the
// serial kernel's vec4 steps), with ignored rows. The op's finite-difference tests run both
// variants too (tensor/ops/crossEntropy.test.ts).

import { afterAll, describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { randomArray, relativeError, rng } from '../test/reference';
import { CROSS_ENTROPY_VARIANTS, crossEntropyForwardInto, crossEntropySavedSize, crossEntropyVariant, forceCrossEntropyVariant } from './crossEntropy';

const context = testContext();
afterAll(async () => forceCrossEntropyVariant(await context, undefined));

/** float64 saved layout: m [N], Σexp(x − m) [N], row loss [N] (0 when not counted), count. */
function savedRef(logits: Float32Array, targets: Int32Array, V: number): Float64Array {
  const N = targets.length;
  const saved = new Float64Array(crossEntropySavedSize(N));
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[n * V + v]!);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[n * V + v]! - m);
    const t = targets[n]!;
    const counted = t >= 0 && t < V;
    saved[n] = m;
    saved[N + n] = s;
    saved[2 * N + n] = counted ? Math.log(s) - (logits[n * V + t]! - m) : 0;
    if (counted) saved[3 * N]! += 1;
  }
  return saved;
}

const ROWS = [1, 7, 33, 100];
const VOCABS = [1, 3, 7, 33, 257, 300, 1000];

describe.each(CROSS_ENTROPY_VARIANTS)('cross-entropy reductions (%s variant)', (variant) => {
  it('row maxima, Σexp, row losses, count and mean loss match float64', async () => {
    const ctx = await context;
    forceCrossEntropyVariant(ctx, variant);
    expect(crossEntropyVariant(ctx)).toBe(variant);
    for (const N of ROWS) {
      for (const V of VOCABS) {
        const next = rng(N * 7919 + V);
        // Every third row ignored (−100); logits of scale 8 so the max subtraction matters.
        const targetValues = Int32Array.from({ length: N }, (_, n) => (n % 3 === 2 ? -100 : Math.floor(next() * V)));
        const logitValues = randomArray(N * V, N + 31 * V, 8);
        const logits = ctx.uploadF32(logitValues, [N, V]);
        const targets = ctx.upload(targetValues, [N], 'i32');
        const loss = ctx.empty([1]);
        const saved = ctx.empty([crossEntropySavedSize(N)]);
        crossEntropyForwardInto(ctx, logits, targets, loss, saved);
        const got = await ctx.read(saved);
        const want = savedRef(logitValues, targetValues, V);
        const at = `N=${N} V=${V}`;
        expect(Array.from(got.subarray(0, N)), `m ${at}`).toEqual(Array.from(want.subarray(0, N), Math.fround)); // max is exact
        expect(relativeError(got.subarray(N, 2 * N), want.subarray(N, 2 * N)), `Σexp ${at}`).toBeLessThan(1e-5);
        expect(relativeError(got.subarray(2 * N, 3 * N), want.subarray(2 * N, 3 * N)), `row loss ${at}`).toBeLessThan(1e-5);
        expect(got[3 * N], `count ${at}`).toBe(want[3 * N]);
        const count = want[3 * N]!;
        const meanLoss = count > 0 ? want.subarray(2 * N, 3 * N).reduce((a, b) => a + b, 0) / count : 0;
        expect(relativeError(await ctx.read(loss), [meanLoss]), `loss ${at}`).toBeLessThan(1e-5);
        ctx.release(logits, targets, loss, saved);
      }
    }
  });
});

describe('cross-entropy variant choice', () => {
  it('picks the barrier-free serial kernels on a software adapter and workgroups on hardware', async () => {
    const ctx = await context;
    forceCrossEntropyVariant(ctx, undefined);
    expect(crossEntropyVariant(ctx)).toBe(ctx.info.isSoftware ? 'serial' : 'workgroup');
  });
});
