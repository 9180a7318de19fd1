import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { defineShader, GpuContext } from './context';
import { acquireNodeDevice } from './node';
import { counterDelta, kernelKey } from './profiler';

// A shader of our own: gpu/ tests do not import kernels/.
const axpb = defineShader(
  'profiler_test_axpb',
  `struct Params { n: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;   // [n]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // [n]
@compute @workgroup_size(64)
fn axpb(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.n) { return; }
  y[gid.x] = params.a * x[gid.x] + params.b;
}`,
);

describe('GPU counters and profile sessions', () => {
  it('counts dispatches, bind groups, buffers, writes, pipelines and submits', async () => {
    const ctx = await testContext();
    const before = ctx.counters();
    const x = ctx.uploadF32([1, 2, 3, 4], [4], 'x');
    const y = ctx.empty([4], 'f32', 'y');
    for (let i = 0; i < 3; i++) {
      ctx.dispatch({ shader: axpb, bindings: { x, y }, params: { n: 4, a: 2, b: i }, workgroups: [1], label: `axpb ${i}`, cost: { flops: 8, bytes: 32 } });
    }
    expect(Array.from(await ctx.read(y))).toEqual([4, 6, 8, 10]);
    const d = counterDelta(before, ctx.counters());
    expect(d.dispatches).toBe(3);
    expect(d.bindGroups).toBe(1); // the same buffers each time: one bind group, cached for the next two
    expect(d.pipelinesCompiled).toBe(1);
    expect(d.shaderModules).toBe(1);
    // x, y and the readback staging buffer from the pool (and a uniform chunk if this is the first use).
    expect(d.poolBuffersCreated).toBeGreaterThanOrEqual(3);
    expect(d.buffersCreated).toBe(d.poolBuffersCreated + d.uniformBuffersCreated);
    expect(d.bytesWritten).toBeGreaterThanOrEqual(16 + 3 * 16);
    expect(d.uniformBytesWritten).toBeGreaterThanOrEqual(3 * 16);
    expect(d.submits).toBeGreaterThanOrEqual(1);

    // The same work again: nothing new created.
    const again = ctx.counters();
    ctx.release(x, y);
    const x2 = ctx.uploadF32([1, 2, 3, 4], [4], 'x');
    const y2 = ctx.empty([4], 'f32', 'y');
    ctx.dispatch({ shader: axpb, bindings: { x: x2, y: y2 }, params: { n: 4, a: 1, b: 0 }, workgroups: [1], label: 'axpb' });
    await ctx.read(y2);
    const d2 = counterDelta(again, ctx.counters());
    expect(d2.buffersCreated).toBe(0);
    expect(d2.pipelinesCompiled).toBe(0);
    expect(d2.bindGroups).toBeLessThanOrEqual(1); // new unless the pool handed back the same buffers in the same roles
    ctx.release(x2, y2);
  });

  for (const timestamps of [true, false]) {
    it(`a profile session records every dispatch${timestamps ? ' with its GPU time' : ' without times (fallback)'}`, async () => {
      const ctx = await testContext();
      const x = ctx.uploadF32(new Float32Array(1000).fill(1), [1000], 'x');
      const y = ctx.empty([1000], 'f32', 'y');
      await ctx.sync();
      const before = ctx.counters();
      const session = ctx.startProfiling({ timestamps });
      expect(ctx.profiling).toBe(session);
      expect(() => ctx.startProfiling()).toThrow(/already running/);
      for (let i = 0; i < 4; i++) {
        ctx.dispatch({
          shader: axpb,
          bindings: { x, y },
          params: { n: 1000, a: 1, b: i },
          workgroups: [16],
          label: `axpb [1000] #${i}`,
          ...(i < 3 ? { cost: { flops: 2000, bytes: 8000 } } : {}),
        });
      }
      const dispatches = await session.collect();
      const delta = counterDelta(before, ctx.counters());
      session.close();
      expect(ctx.profiling).toBeUndefined();
      expect(delta.buffersCreated).toBe(0); // the session's query sets and buffers are not counted
      expect(dispatches.map((d) => d.label)).toEqual([0, 1, 2, 3].map((i) => `axpb [1000] #${i}`));
      expect(dispatches.every((d) => d.kernel === 'axpb')).toBe(true);
      expect(dispatches[0]!.cost).toEqual({ flops: 2000, bytes: 8000 });
      expect(dispatches[3]!.cost).toBeNull();
      const timed = timestamps && ctx.info.features.timestampQuery;
      expect(session.timestamps).toBe(timed);
      for (const d of dispatches) {
        if (timed) {
          expect(d.ms).not.toBeNull();
          expect(d.ms!).toBeGreaterThanOrEqual(0);
          expect(d.startMs!).toBeGreaterThanOrEqual(0);
        } else {
          expect(d.ms).toBeNull();
        }
      }
      // The results are those of the shared-pass path.
      expect(Array.from((await ctx.read(y)).slice(0, 2))).toEqual([4, 4]);
      // A second collect returns only what came after the first.
      const next = ctx.startProfiling({ timestamps });
      expect(await next.collect()).toEqual([]);
      next.close();
      ctx.release(x, y);
    });
  }

  it('an upload while commands are being recorded takes a buffer released before them, so it forces no submit', async () => {
    // A context that shares one submission per flush (the test context submits every dispatch).
    const ctx = new GpuContext(await acquireNodeDevice({ defaultLimitsOnly: true }));
    try {
      const y = ctx.uploadF32([0, 0, 0, 0], [4], 'y');
      const early = [ctx.empty([4], 'f32', 'a'), ctx.empty([4], 'f32', 'b')];
      ctx.dispatch({ shader: axpb, bindings: { x: early[0]!, y }, params: { n: 4, a: 0, b: 0 }, workgroups: [1], label: 'axpb' });
      ctx.release(...early);
      await ctx.sync(); // two free buffers released in an earlier submission
      const c = ctx.empty([4], 'f32', 'c');
      ctx.dispatch({ shader: axpb, bindings: { x: c, y }, params: { n: 4, a: 0, b: 7 }, workgroups: [1], label: 'axpb' });
      ctx.release(c); // free again, but read by the commands being recorded
      const before = ctx.counters();
      const x = ctx.uploadF32([1, 2, 3, 4], [4], 'x');
      const delta = counterDelta(before, ctx.counters());
      expect(delta.submits).toBe(0);
      expect(delta.buffersCreated).toBe(0);
      expect(x.buffer).not.toBe(c.buffer);
      ctx.dispatch({ shader: axpb, bindings: { x, y }, params: { n: 4, a: 1, b: 1 }, workgroups: [1], label: 'axpb' });
      expect(Array.from(await ctx.read(y))).toEqual([2, 3, 4, 5]);
    } finally {
      ctx.destroy();
    }
  });

  it('names kernels by the label’s first word and the entry point', () => {
    expect(kernelKey('matmul [4,8]×[8,2]→[4,2]', 'matmul_vec4')).toBe('matmul · matmul_vec4');
    expect(kernelKey('attn_mix probs [1]', 'attn_mix')).toBe('attn_mix');
    expect(kernelKey('fill', 'elementwise')).toBe('fill · elementwise');
  });
});
