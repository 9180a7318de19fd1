// The context's bind-group cache: dispatches that bind the same buffers reuse one bind group,
// each still reading its own uniform values (dynamic offsets into the uniform ring), within one
// submission and across submissions; other buffers or binding sizes make a new one. And the pool
// hands out buffers by which are free, not by the order they were released in, so a repeated step
// binds the same buffers (and hits the cache) whatever order the last step freed them in.

import { describe, expect, it } from 'vitest';
import { defineShader, GpuContext } from './context';
import { acquireNodeDevice } from './node';
import { BufferPool } from './pool';
import { counterDelta } from './profiler';

// A shader of our own: gpu/ tests do not import kernels/.
const axpb = defineShader(
  'bind_group_cache_test_axpb',
  `struct Params { n: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [n]
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // [n]
@compute @workgroup_size(64)
fn axpb(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.n) { return; }
  y[gid.x] = params.a * x[gid.x] + params.b + y[gid.x];
}`,
);

describe('bind-group cache', () => {
  // One submission for many dispatches (no checkEachDispatch), as a training step records them.
  for (const checkEachDispatch of [false, true]) {
    it(`reuses a bind group for the same buffers with each dispatch's own uniforms (${checkEachDispatch ? 'a submission per dispatch' : 'one submission'})`, async () => {
      const ctx = new GpuContext(await acquireNodeDevice({ defaultLimitsOnly: true }), { checkEachDispatch });
      try {
        const x = ctx.uploadF32([1, 2, 3], [3], 'x');
        const y = ctx.uploadF32([0, 0, 0], [3], 'y');
        const z = ctx.uploadF32([0, 0, 0], [3], 'z');
        const before = ctx.counters();
        // y accumulates Σ_i (a_i·x + b_i) over 5 dispatches with different parameters.
        for (let i = 0; i < 5; i++) ctx.dispatch({ shader: axpb, bindings: { x, y }, params: { n: 3, a: i, b: 10 * i }, workgroups: [1], label: `axpb ${i}` });
        // Another output buffer, then a shorter binding of the same buffer: two new bind groups.
        ctx.dispatch({ shader: axpb, bindings: { x, y: z }, params: { n: 3, a: 1, b: 1 }, workgroups: [1], label: 'axpb z' });
        ctx.dispatch({ shader: axpb, bindings: { x: x.prefix([2]), y: z }, params: { n: 2, a: 1, b: 1 }, workgroups: [1], label: 'axpb z prefix' });
        expect(Array.from(await ctx.read(y))).toEqual([10 + 100, 20 + 100, 30 + 100]);
        expect(Array.from(await ctx.read(z))).toEqual([4, 6, 4]);
        const first = counterDelta(before, ctx.counters());
        expect(first.dispatches).toBe(7);
        expect(first.bindGroups).toBe(3);

        // The same recording again (a later step): nothing new, same values again.
        const again = ctx.counters();
        for (let i = 0; i < 5; i++) ctx.dispatch({ shader: axpb, bindings: { x, y }, params: { n: 3, a: i, b: 10 * i }, workgroups: [1], label: `axpb ${i}` });
        expect(Array.from(await ctx.read(y))).toEqual([220, 240, 260]);
        expect(counterDelta(again, ctx.counters()).bindGroups).toBe(0);
        ctx.release(x, y, z);
      } finally {
        ctx.destroy();
      }
    });
  }

  it('the pool hands out the oldest free buffer of a size class, whatever the release order', async () => {
    const ctx = new GpuContext(await acquireNodeDevice({ defaultLimitsOnly: true }));
    try {
      const pool = new BufferPool(ctx.device);
      const usage = GPUBufferUsage.STORAGE;
      const [a, b, c] = [0, 1, 2].map((i) => pool.acquire(1000, usage, `t${i}`)) as [
        ReturnType<typeof pool.acquire>,
        ReturnType<typeof pool.acquire>,
        ReturnType<typeof pool.acquire>,
      ];
      for (const order of [
        [a, b, c],
        [c, a, b],
        [b, c, a],
      ]) {
        for (const e of order) pool.release(e, 0);
        const again = [pool.acquire(1000, usage, 'x'), pool.acquire(900, usage, 'y'), pool.acquire(1000, usage, 'z')];
        expect(again.map((e) => e.buffer)).toEqual([a.buffer, b.buffer, c.buffer]);
      }
      // Preferring a buffer not released in a given generation still picks the oldest such one.
      pool.release(a, 5);
      pool.release(c, 4);
      pool.release(b, 4);
      expect(pool.acquire(1000, usage, 'avoid', 5).buffer).toBe(b.buffer);
      expect(pool.stats().createdCount).toBe(3);
      // When every free buffer was released in the avoided generation: a new one for a small request
      // (so an upload while recording need not submit first), the free one for a large request.
      expect(pool.acquire(1000, usage, 'oldest').buffer).toBe(a.buffer);
      pool.release(c, 6);
      expect(pool.acquire(1000, usage, 'small', 6).buffer).not.toBe(c.buffer);
      expect(pool.stats().createdCount).toBe(4);
      const big = pool.acquire(1 << 20, usage, 'big');
      pool.release(big, 7);
      expect(pool.acquire(1 << 20, usage, 'big again', 7).buffer).toBe(big.buffer);
      expect(pool.stats().createdCount).toBe(5);
      pool.trim();
    } finally {
      ctx.destroy();
    }
  });
});
