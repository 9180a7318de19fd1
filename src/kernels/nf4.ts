// Wrapper of shaders/nf4.wgsl: NF4 (QLoRA 4-bit NormalFloat) weights on the GPU, bit-exact to
// bitsandbytes (the rules and the CPU definition are in src/io/nf4Reference.ts).
//   quantizeNf4(ctx, W [out, in] f32, { doubleQuant }) → Nf4Weight
//     packed u32 [ceil(n/8)], n = out·in: the bitsandbytes uint8 stream read as little-endian
//       words (byte i = elements 2i (high nibble) and 2i+1 (low nibble), in bits 8(i%4).. of word i/4);
//     absmax: { kind: 'f32', values: f32 [blocks] } with blocks = ceil(n/64), or with double
//       quantization { kind: 'double', codes8: u32 [ceil(blocks/4)] (uint8 codes, little-endian),
//       scales: f32 [ceil(blocks/256)], mean: f32 [1] }.
//   dequantizeNf4(ctx, q) → f32 [out, in]
//   nf4Matmul(ctx, x [N, in], q, y [N, out], { bias [out], accumulate }): y = x · deq(Q)ᵀ (+ bias)
//   nf4MatmulInputGrad(ctx, G [N, out], q, dx [N, in], accumulate): dx (+)= G · deq(Q)
// The products never materialise deq(Q): each invocation decodes the 4-bit codes it needs. A
// double-quantized weight first gets its absmax restored into a scratch [blocks] buffer (1/64 of
// the weight's element count), released right after.
// Not here: gradients for Q (frozen base), the safetensors file format (io/).

import source from '../../shaders/nf4.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { dynamicMap, nf4BytesToWords, packBytesLE, type Nf4Data } from '../io/nf4Reference';
import { gridFor } from './elementwise';

const shader = defineShader('nf4', source);

/** Invocations per workgroup of the 1-D entry points (the shader's WG). */
const WG = 64;
const BLOCK = 64;
const DQ_BLOCK = 256;

export type Nf4Absmax =
  | { readonly kind: 'f32'; readonly values: GpuTensor }
  | { readonly kind: 'double'; readonly codes8: GpuTensor; readonly scales: GpuTensor; readonly mean: GpuTensor };

export interface Nf4Weight {
  /** [out, in] of the weight this stands for. */
  readonly shape: readonly [number, number];
  /** out · in. */
  readonly n: number;
  /** ceil(n / 64). */
  readonly blocks: number;
  /** u32 [ceil(n / 8)]. */
  readonly packed: GpuTensor;
  readonly absmax: Nf4Absmax;
  /** GPU bytes held (codes and constants; the shared 256-value map is not counted). */
  byteSize(): number;
}

export interface Nf4QuantizeOptions {
  /** Quantize the absmax values too (QLoRA's default): ≈ 4.127 instead of 4.5 bits per weight. */
  readonly doubleQuant?: boolean;
}

interface Run {
  readonly entryPoint: string;
  readonly params: Partial<Record<'n' | 'blocks' | 'rows' | 'inF' | 'outF' | 'count' | 'beta', number>>;
  readonly bindings: Partial<Record<'src' | 'aux' | 'packed' | 'absmax' | 'codes8' | 'mean' | 'out' | 'out_u32', GpuTensor>>;
  readonly workgroups: readonly [number, number?, number?];
  readonly label: string;
  readonly hasBias?: boolean;
}

function run(ctx: GpuContext, r: Run): void {
  const placeholder = ctx.placeholder();
  const dummy = r.bindings.out_u32 ? undefined : ctx.empty([1], 'u32', 'nf4 unused output');
  const b = r.bindings;
  ctx.dispatch({
    shader,
    entryPoint: r.entryPoint,
    constants: { HAS_BIAS: r.hasBias ?? false },
    bindings: {
      src: b.src ?? placeholder,
      aux: b.aux ?? placeholder,
      packed: b.packed ?? placeholder,
      absmax: b.absmax ?? placeholder,
      codes8: b.codes8 ?? placeholder,
      mean: b.mean ?? placeholder,
      out: b.out!,
      out_u32: b.out_u32 ?? dummy!,
    },
    params: { n: 0, blocks: 0, rows: 0, inF: 0, outF: 0, count: 0, beta: 0, zero: 0, ...r.params },
    workgroups: r.workgroups,
    label: r.label,
  });
  ctx.release(dummy);
}

const mapCache = new WeakMap<GpuContext, GpuTensor>();

/** bitsandbytes' signed dynamic map f32 [256] on this device (uploaded once, kept for the context's life). */
function dynamicMapTensor(ctx: GpuContext): GpuTensor {
  let t = mapCache.get(ctx);
  if (!t || t.released) {
    t = ctx.uploadF32(dynamicMap(), [256], 'nf4 dynamic map');
    mapCache.set(ctx, t);
  }
  return t;
}

function makeWeight(shape: readonly [number, number], packed: GpuTensor, absmax: Nf4Absmax): Nf4Weight {
  const n = shape[0] * shape[1];
  return {
    shape,
    n,
    blocks: Math.ceil(n / BLOCK),
    packed,
    absmax,
    byteSize: () =>
      packed.byteLength + (absmax.kind === 'f32' ? absmax.values.byteLength : absmax.codes8.byteLength + absmax.scales.byteLength + absmax.mean.byteLength),
  };
}

function describe(q: Nf4Weight): string {
  return `nf4[${q.shape.join(',')}]${q.absmax.kind === 'double' ? 'dq' : ''}`;
}

/** Quantizes W [out, in] f32 (flattened row-major) to NF4, as bitsandbytes' quantize_4bit(nf4, blocksize 64). */
export function quantizeNf4(ctx: GpuContext, W: GpuTensor, options: Nf4QuantizeOptions = {}): Nf4Weight {
  const label = `nf4 quantize ${W.describe()}`;
  if (W.dtype !== 'f32') throw new GpuError(`W must be f32, is ${W.dtype}`, 'nf4_quantize', W.describe());
  if (W.shape.length !== 2 || W.size === 0) throw new GpuError('W must be a non-empty [out, in] matrix', 'nf4_quantize', W.describe());
  const shape = [W.shape[0]!, W.shape[1]!] as const;
  const n = W.size;
  const blocks = Math.ceil(n / BLOCK);
  const packed = ctx.empty([Math.ceil(n / 8)], 'u32', 'nf4 codes');
  const absmax = ctx.empty([blocks], 'f32', 'nf4 absmax');
  run(ctx, {
    entryPoint: 'nf4_quantize',
    params: { n, blocks },
    bindings: { src: W, out: absmax, out_u32: packed },
    workgroups: gridFor(ctx, blocks, WG),
    label,
  });
  if (!options.doubleQuant) return makeWeight(shape, packed, { kind: 'f32', values: absmax });
  const double = doubleQuantize(ctx, absmax, label);
  ctx.release(absmax);
  return makeWeight(shape, packed, { kind: 'double', ...double });
}

function doubleQuantize(ctx: GpuContext, absmax: GpuTensor, label: string): { codes8: GpuTensor; scales: GpuTensor; mean: GpuTensor } {
  const blocks = absmax.size;
  const chunks = Math.ceil(blocks / DQ_BLOCK);
  const sums = ctx.empty([chunks], 'f32', 'nf4 absmax sums');
  const mean = ctx.empty([1], 'f32', 'nf4 absmax mean');
  const codes8 = ctx.empty([Math.ceil(blocks / 4)], 'u32', 'nf4 absmax codes');
  const scales = ctx.empty([chunks], 'f32', 'nf4 absmax scales');
  run(ctx, {
    entryPoint: 'nf4_absmax_sums',
    params: { count: blocks },
    bindings: { src: absmax, out: sums },
    workgroups: gridFor(ctx, chunks, WG),
    label: `${label} absmax sums`,
  });
  run(ctx, {
    entryPoint: 'nf4_absmax_mean',
    params: { n: chunks, count: blocks },
    bindings: { src: sums, out: mean },
    workgroups: [1],
    label: `${label} absmax mean`,
  });
  run(ctx, {
    entryPoint: 'nf4_double_quant',
    params: { count: blocks },
    bindings: { src: absmax, mean, aux: dynamicMapTensor(ctx), out: scales, out_u32: codes8 },
    workgroups: gridFor(ctx, chunks, WG),
    label: `${label} double quant`,
  });
  ctx.release(sums);
  return { codes8, scales, mean };
}

/**
 * The absmax values dequantization uses, f32 [blocks]. For a plain weight this is q's own tensor
 * (`owned: false`, do not release); for a double-quantized one a new tensor the caller releases.
 */
export function nf4Absmax(ctx: GpuContext, q: Nf4Weight): { readonly values: GpuTensor; readonly owned: boolean } {
  if (q.absmax.kind === 'f32') return { values: q.absmax.values, owned: false };
  const { codes8, scales, mean } = q.absmax;
  const values = ctx.empty([q.blocks], 'f32', 'nf4 restored absmax');
  run(ctx, {
    entryPoint: 'nf4_absmax_restore',
    params: { count: q.blocks },
    bindings: { codes8, absmax: scales, mean, aux: dynamicMapTensor(ctx), out: values },
    workgroups: gridFor(ctx, q.blocks, WG),
    label: `nf4 absmax restore ${describe(q)}`,
  });
  return { values, owned: true };
}

/** deq(Q) f32 [out, in]: w = NF4[code] · absmax, bit-exact to bitsandbytes' dequantize_4bit. */
export function dequantizeNf4(ctx: GpuContext, q: Nf4Weight): GpuTensor {
  const out = ctx.empty(q.shape, 'f32', 'nf4 dequantized');
  const absmax = nf4Absmax(ctx, q);
  run(ctx, {
    entryPoint: 'nf4_dequantize',
    params: { n: q.n, blocks: q.blocks },
    bindings: { packed: q.packed, absmax: absmax.values, out },
    workgroups: gridFor(ctx, Math.ceil(q.n / 8), WG),
    label: `nf4 dequantize ${describe(q)}`,
  });
  if (absmax.owned) ctx.release(absmax.values);
  return out;
}

export interface Nf4MatmulOptions {
  /** [out], added to every row. */
  readonly bias?: GpuTensor;
  /** Add into `out` instead of overwriting it. */
  readonly accumulate?: boolean;
}

function rowsOf(kernel: string, t: GpuTensor, width: number, name: string, label: string): number {
  if (t.dtype !== 'f32') throw new GpuError(`${name} must be f32, is ${t.dtype}`, kernel, label);
  const rows = t.size / width;
  if (t.shape[t.shape.length - 1] !== width || !Number.isInteger(rows)) {
    throw new GpuError(`${name} ${t.describe()} must end in ${width}`, kernel, label);
  }
  return rows;
}

/** y [N, out] = x [N, in] · deq(Q)ᵀ (+ bias), without materialising deq(Q). Returns y. */
export function nf4Matmul(ctx: GpuContext, x: GpuTensor, q: Nf4Weight, out: GpuTensor, options: Nf4MatmulOptions = {}): GpuTensor {
  const [outF, inF] = q.shape;
  const label = `nf4 matmul ${x.describe()}×${describe(q)}ᵀ→${out.describe()}`;
  const N = rowsOf('nf4_matmul', x, inF, 'x', label);
  if (rowsOf('nf4_matmul', out, outF, 'out', label) !== N) throw new GpuError(`out must have ${N} rows`, 'nf4_matmul', label);
  if (out === x) throw new GpuError('output must not alias the input', 'nf4_matmul', label);
  const { bias } = options;
  if (bias && (bias.size !== outF || bias.dtype !== 'f32')) throw new GpuError(`bias must be f32 [${outF}]`, 'nf4_matmul', label);
  if (N === 0) return out;
  const absmax = nf4Absmax(ctx, q);
  run(ctx, {
    entryPoint: 'nf4_matmul',
    params: { n: q.n, blocks: q.blocks, rows: N, inF, outF, beta: options.accumulate ? 1 : 0 },
    bindings: { src: x, aux: bias, packed: q.packed, absmax: absmax.values, out },
    hasBias: bias !== undefined,
    workgroups: [Math.ceil(outF / 32), Math.ceil(N / 32)],
    label,
  });
  if (absmax.owned) ctx.release(absmax.values);
  return out;
}

/** dx [N, in] (+)= G [N, out] · deq(Q), without materialising deq(Q). Returns dx. */
export function nf4MatmulInputGrad(ctx: GpuContext, G: GpuTensor, q: Nf4Weight, dx: GpuTensor, accumulate = false): GpuTensor {
  const [outF, inF] = q.shape;
  const label = `nf4 matmul dx ${G.describe()}×${describe(q)}→${dx.describe()}`;
  const N = rowsOf('nf4_matmul_dx', G, outF, 'G', label);
  if (rowsOf('nf4_matmul_dx', dx, inF, 'dx', label) !== N) throw new GpuError(`dx must have ${N} rows`, 'nf4_matmul_dx', label);
  if (dx === G) throw new GpuError('output must not alias the input', 'nf4_matmul_dx', label);
  if (N === 0) return dx;
  const absmax = nf4Absmax(ctx, q);
  run(ctx, {
    entryPoint: 'nf4_matmul_dx',
    params: { n: q.n, blocks: q.blocks, rows: N, inF, outF, beta: accumulate ? 1 : 0 },
    bindings: { src: G, packed: q.packed, absmax: absmax.values, out: dx },
    workgroups: [Math.ceil(inF / 64), Math.ceil(N / 32)],
    label,
  });
  if (absmax.owned) ctx.release(absmax.values);
  return dx;
}

/** Uploads a CPU-quantized weight (nf4Reference's layout) as an Nf4Weight of shape [out, in]. */
export function uploadNf4(ctx: GpuContext, data: Nf4Data, shape: readonly [number, number]): Nf4Weight {
  if (shape[0] * shape[1] !== data.n) throw new GpuError(`shape [${shape.join(',')}] does not hold ${data.n} elements`, 'nf4 upload');
  const packed = ctx.upload(nf4BytesToWords(data.bytes), [Math.ceil(data.n / 8)], 'u32', 'nf4 codes');
  if (!data.double) return makeWeight(shape, packed, { kind: 'f32', values: ctx.uploadF32(data.absmax, [data.absmax.length], 'nf4 absmax') });
  const { codes8, scales, mean } = data.double;
  return makeWeight(shape, packed, {
    kind: 'double',
    codes8: ctx.upload(packBytesLE(codes8), [Math.ceil(codes8.length / 4)], 'u32', 'nf4 absmax codes'),
    scales: ctx.uploadF32(scales, [scales.length], 'nf4 absmax scales'),
    mean: ctx.uploadF32([mean], [1], 'nf4 absmax mean'),
  });
}

/** Releases every tensor of q. */
export function releaseNf4(ctx: GpuContext, q: Nf4Weight): void {
  if (q.absmax.kind === 'f32') ctx.release(q.packed, q.absmax.values);
  else ctx.release(q.packed, q.absmax.codes8, q.absmax.scales, q.absmax.mean);
}

/** Test hook for the shader's exact division: pairs f32 [2m] → [m] with out[i] = fl(pairs[2i] / pairs[2i+1]). */
export function nf4DivideForTest(ctx: GpuContext, pairs: GpuTensor): GpuTensor {
  const count = Math.floor(pairs.size / 2);
  const out = ctx.empty([count], 'f32', 'nf4 divide test');
  run(ctx, {
    entryPoint: 'nf4_divide_test',
    params: { count },
    bindings: { src: pairs, out },
    workgroups: gridFor(ctx, count, WG),
    label: `nf4 divide test [${count}]`,
  });
  return out;
}
