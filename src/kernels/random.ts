// Wrapper of shaders/random.wgsl: seeded counter-based random tensors (Philox4x32-10).
//   randomNormal(ctx, shape, seed, stream?, {mean, std})  → f32 tensor of `shape`, N(mean, std²)
//   randomUniform(ctx, shape, seed, lo, hi, stream?)      → f32 tensor of `shape`, U[lo, hi)
//   randomBits(ctx, n, seed, stream?)                     → u32 [n], the raw Philox words
//   philoxBlock(ctx, counter, key)                        → u32 [4], one Philox block (tests)
// Element i of a tensor (flat, row-major) comes from Philox block ⌊i/4⌋, word i mod 4, with
// key = the 64-bit seed (low, high words) and counter = (⌊i/4⌋, stream, 0, 0). So the same
// (seed, stream) gives the same bits on any shape of the same size and on any device; distinct
// streams of one seed are independent (use one stream per layer or per use of a seed).
// Seeds are integers in [0, 2⁵³); streams are u32. Not here: other distributions, f16 output.

import source from '../../shaders/random.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('random', source);
const WG = 64;
/** Philox blocks are indexed by a u32 counter word: four values each. */
const MAX_ELEMENTS = 4 * 2 ** 32 - 4;

function seedWords(seed: number, kernel: string): [number, number] {
  if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
    throw new GpuError(`seed ${seed} must be an integer in [0, 2^53)`, kernel);
  }
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

function checkStream(stream: number, kernel: string): number {
  if (!Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) throw new GpuError(`stream ${stream} must be a u32`, kernel);
  return stream;
}

type Entry = 'random_bits' | 'random_uniform' | 'random_normal';

function dispatch(ctx: GpuContext, entry: Entry, dst: GpuTensor, seed: number, stream: number, lo: number, span: number, label: string): void {
  if (dst.size > MAX_ELEMENTS) throw new GpuError(`at most ${MAX_ELEMENTS} elements`, entry, label);
  if (!Number.isFinite(lo) || !Number.isFinite(span)) throw new GpuError(`parameters ${lo}, ${span} must be finite`, entry, label);
  const [k0, k1] = seedWords(seed, entry);
  const isBits = entry === 'random_bits';
  const wantType = isBits ? 'u32' : 'f32';
  if (dst.dtype !== wantType) throw new GpuError(`output must be ${wantType}, is ${dst.dtype}`, entry, label);
  ctx.dispatch({
    shader,
    entryPoint: entry,
    constants: { WG },
    bindings: { out: isBits ? ctx.placeholder() : dst, bits: isBits ? dst : ctx.placeholder() },
    params: { n: dst.size, c0: 0, c1: checkStream(stream, entry), c2: 0, c3: 0, k0, k1, lo, span },
    workgroups: gridFor(ctx, Math.ceil(dst.size / 4), WG),
    label,
  });
}

export interface NormalOptions {
  readonly mean?: number;
  readonly std?: number;
}

/** Fills `out` with N(mean, std²) values (Box–Muller); returns out. */
export function randomNormalInto(ctx: GpuContext, out: GpuTensor, seed: number, stream = 0, options: NormalOptions = {}): GpuTensor {
  const { mean = 0, std = 1 } = options;
  dispatch(ctx, 'random_normal', out, seed, stream, mean, std, `randomNormal ${out.describe()} seed ${seed}/${stream}`);
  return out;
}

/** A new f32 tensor of `shape` with N(mean, std²) entries (standard normal by default). */
export function randomNormal(ctx: GpuContext, shape: readonly number[], seed: number, stream = 0, options: NormalOptions = {}): GpuTensor {
  return randomNormalInto(ctx, ctx.empty(shape, 'f32', 'randomNormal'), seed, stream, options);
}

/** Fills `out` with U[lo, hi) values (on a 2⁻²⁴·(hi − lo) grid); returns out. */
export function randomUniformInto(ctx: GpuContext, out: GpuTensor, seed: number, lo = 0, hi = 1, stream = 0): GpuTensor {
  dispatch(ctx, 'random_uniform', out, seed, stream, lo, hi - lo, `randomUniform ${out.describe()} [${lo},${hi}) seed ${seed}/${stream}`);
  return out;
}

/** A new f32 tensor of `shape` with U[lo, hi) entries. */
export function randomUniform(ctx: GpuContext, shape: readonly number[], seed: number, lo = 0, hi = 1, stream = 0): GpuTensor {
  return randomUniformInto(ctx, ctx.empty(shape, 'f32', 'randomUniform'), seed, lo, hi, stream);
}

/** u32 [n]: the raw Philox words of (seed, stream), word i = block ⌊i/4⌋, lane i mod 4. */
export function randomBits(ctx: GpuContext, n: number, seed: number, stream = 0): GpuTensor {
  const out = ctx.empty([n], 'u32', 'randomBits');
  dispatch(ctx, 'random_bits', out, seed, stream, 0, 0, `randomBits [${n}] seed ${seed}/${stream}`);
  return out;
}

/** u32 [4]: philox4x32_10(counter, key) for an arbitrary counter, to check against known answers. */
export function philoxBlock(ctx: GpuContext, counter: readonly [number, number, number, number], key: readonly [number, number]): GpuTensor {
  const out = ctx.empty([4], 'u32', 'philoxBlock');
  const [c0, c1, c2, c3] = counter.map((c) => c >>> 0) as [number, number, number, number];
  ctx.dispatch({
    shader,
    entryPoint: 'random_bits',
    constants: { WG },
    bindings: { out: ctx.placeholder(), bits: out },
    params: { n: 4, c0, c1, c2, c3, k0: key[0] >>> 0, k1: key[1] >>> 0, lo: 0, span: 0 },
    workgroups: [1],
    label: `philoxBlock [${counter.join(',')}]`,
  });
  return out;
}
