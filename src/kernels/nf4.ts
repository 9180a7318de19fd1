// Wrapper of shaders/nf4.wgsl and nf4_matmul.wgsl: NF4 (QLoRA 4-bit NormalFloat) weights on the
// GPU, bit-exact to bitsandbytes (the rules and the CPU definition are in src/io/nf4Reference.ts).
//   quantizeNf4(ctx, W [out, in] f32, { doubleQuant }) → Nf4Weight
//     packed u32 [ceil(n/8)], n = out·in: the bitsandbytes uint8 stream read as little-endian
//       words (byte i = elements 2i (high nibble) and 2i+1 (low nibble), in bits 8(i%4).. of word i/4);
//     absmax: { kind: 'f32', values: f32 [blocks] } with blocks = ceil(n/64), or with double
//       quantization { kind: 'double', codes8: u32 [ceil(blocks/4)] (uint8 codes, little-endian),
//       scales: f32 [ceil(blocks/256)], mean: f32 [1] }.
//   dequantizeNf4(ctx, q) → f32 [out, in]
//   nf4Matmul(ctx, x [N, in], q, y [N, out], { bias [out], accumulate }): y = x · deq(Q)ᵀ (+ bias)
//   nf4MatmulInputGrad(ctx, G [N, out], q, dx [N, in], accumulate): dx (+)= G · deq(Q)
//   nf4LoraMatmul / nf4LoraInputGrad: the same products with a LoRA layer's low-rank term in their
//     epilogue, one dispatch each (tensor/ops/loraLinear.ts):
//       y = x · deq(Q)ᵀ + s · h' Bᵀ (+ bias);  dx (+)= G · deq(Q) + dh A beside dA (+)= dhᵀ x
// The products never materialise deq(Q): each invocation decodes the 4-bit codes it needs. A
// double-quantized weight first gets its absmax restored into a scratch [blocks] buffer (1/64 of
// the weight's element count), released right after unless the caller passes one it keeps.
// Not here: gradients for Q (frozen base), the safetensors file format (io/).

import source from '../../shaders/nf4.wgsl?raw';
import matmulSource from '../../shaders/nf4_matmul.wgsl?raw';
import sideSource from '../../shaders/matmul_lora_side.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError, InternalError } from '../errors';
import { dynamicMap, nf4BytesToWords, packBytesLE, type Nf4Data } from '../io/nf4Reference';
import { gridFor, workgroupGrid } from './elementwise';

const shader = defineShader('nf4', source);

/** The <nf4 constants> block of nf4.wgsl, markers included (WGSL has no includes). */
const CONSTANTS_BLOCK = /\/\/ <nf4 constants>[^\n]*\n[\s\S]*?\/\/ <\/nf4 constants>\r?\n/g;

function withConstants(name: string, body: string): string {
  const blocks = [source.match(CONSTANTS_BLOCK), body.match(CONSTANTS_BLOCK)];
  if (blocks.some((b) => b?.length !== 1)) throw new InternalError(`${name}: nf4.wgsl and ${name}.wgsl must each have one <nf4 constants> block`);
  return `${body.replace(CONSTANTS_BLOCK, () => blocks[0]![0])}\n${sideSource}`;
}

const matmulShader = defineShader('nf4_matmul', withConstants('nf4_matmul', matmulSource));

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
  readonly params: Partial<Record<'n' | 'blocks' | 'count', number>>;
  readonly bindings: Partial<Record<'src' | 'aux' | 'packed' | 'absmax' | 'codes8' | 'mean' | 'out' | 'out_u32', GpuTensor>>;
  readonly workgroups: readonly [number, number?, number?];
  readonly label: string;
}

function run(ctx: GpuContext, r: Run): void {
  const placeholder = ctx.placeholder();
  const dummy = r.bindings.out_u32 ? undefined : ctx.empty([1], 'u32', 'nf4 unused output');
  const b = r.bindings;
  ctx.dispatch({
    shader,
    entryPoint: r.entryPoint,
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
    params: { n: 0, blocks: 0, count: 0, zero: 0, ...r.params },
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

export interface Nf4LoraMatmulSpec {
  /** [N, in] */
  readonly x: GpuTensor;
  readonly q: Nf4Weight;
  /** h' [N, R] */
  readonly p: GpuTensor;
  /** B [out, R] */
  readonly B: GpuTensor;
  readonly scale: number;
  /** [out] */
  readonly bias?: GpuTensor;
  /** [N, out] */
  readonly out: GpuTensor;
  readonly accumulate?: boolean;
  /** q's absmax as nf4Absmax gives it, when the caller keeps one (a double-quantized q is then not restored again). */
  readonly absmax?: GpuTensor;
}

export interface Nf4LoraInputGradSpec {
  /** ∂L/∂y [N, out] */
  readonly G: GpuTensor;
  readonly q: Nf4Weight;
  /** ∂L/∂h [N, R], the scaling already in it. */
  readonly dh: GpuTensor;
  /** A [R, in] */
  readonly A: GpuTensor;
  /** [N, in] */
  readonly dx: GpuTensor;
  readonly accumulate?: boolean;
  /** dA [R, in] (+)= dhᵀ x, in the same dispatch. */
  readonly gradA?: { readonly x: GpuTensor; readonly out: GpuTensor; readonly accumulate?: boolean };
  readonly absmax?: GpuTensor;
}

function rowsOf(kernel: string, t: GpuTensor, width: number, name: string, label: string): number {
  if (t.dtype !== 'f32') throw new GpuError(`${name} must be f32, is ${t.dtype}`, kernel, label);
  const rows = t.size / width;
  if (t.shape[t.shape.length - 1] !== width || !Number.isInteger(rows)) {
    throw new GpuError(`${name} ${t.describe()} must end in ${width}`, kernel, label);
  }
  return rows;
}

function expectShape(kernel: string, label: string, name: string, t: GpuTensor, rows: number, cols: number): void {
  if (t.dtype !== 'f32' || t.half) throw new GpuError(`${name} must be f32, is ${t.describe()} ${t.dtype}`, kernel, label);
  if (t.size !== rows * cols || t.shape[t.shape.length - 1] !== cols) throw new GpuError(`${name} ${t.describe()} must be [${rows}, ${cols}]`, kernel, label);
}

function rejectAliases(kernel: string, label: string, outputs: readonly GpuTensor[], inputs: readonly (GpuTensor | undefined)[]): void {
  for (const [i, o] of outputs.entries()) {
    const others = [...inputs, ...outputs.filter((_, j) => j !== i)];
    if (others.some((t) => t?.buffer === o.buffer)) throw new GpuError(`${o.describe()} is written and must not alias another operand`, kernel, label);
  }
}

const unusedGradOutput = new WeakMap<GpuContext, GpuTensor>();

/** Bound as d when there is no side product: a writable binding must not share a buffer with a read-only one. */
function noGradOutput(ctx: GpuContext): GpuTensor {
  let t = unusedGradOutput.get(ctx);
  if (!t || t.released) {
    t = ctx.empty([4], 'f32', 'nf4 unused grad output');
    unusedGradOutput.set(ctx, t);
  }
  return t;
}

/** Bytes of q's codes and absmax a product reads once. */
function weightBytes(q: Nf4Weight): number {
  return q.packed.byteLength + 4 * q.blocks;
}

interface Product {
  readonly entryPoint: 'nf4_matmul' | 'nf4_matmul_dx';
  readonly q: Nf4Weight;
  /** A restored absmax the caller keeps (else restored here when q is double-quantized). */
  readonly absmax: GpuTensor | undefined;
  readonly bindings: {
    readonly src: GpuTensor;
    readonly p?: GpuTensor;
    readonly q?: GpuTensor;
    readonly f?: GpuTensor;
    readonly out: GpuTensor;
    readonly d?: GpuTensor;
  };
  readonly params: Record<'rows' | 'R' | 's' | 'beta' | 'mainTilesX' | 'mainTiles' | 'SM' | 'SN' | 'SK' | 'sBeta' | 'sideTilesX' | 'tiles', number>;
  readonly hasBias: boolean;
  readonly label: string;
  readonly cost: { readonly flops: number; readonly bytes: number };
}

function runProduct(ctx: GpuContext, r: Product): void {
  const [outF, inF] = r.q.shape;
  if (r.absmax && (r.absmax.size !== r.q.blocks || r.absmax.dtype !== 'f32')) {
    throw new GpuError(`absmax ${r.absmax.describe()} must be f32 [${r.q.blocks}]`, r.entryPoint, r.label);
  }
  const absmax = r.absmax ? { values: r.absmax, owned: false } : nf4Absmax(ctx, r.q);
  const b = r.bindings;
  const placeholder = ctx.placeholder();
  ctx.dispatch({
    shader: matmulShader,
    entryPoint: r.entryPoint,
    constants: { HAS_BIAS: r.hasBias },
    bindings: {
      src: b.src,
      packed: r.q.packed,
      absmax: absmax.values,
      p: b.p ?? placeholder,
      q: b.q ?? placeholder,
      f: b.f ?? placeholder,
      out: b.out,
      d: b.d ?? noGradOutput(ctx),
    },
    params: { n: r.q.n, blocks: r.q.blocks, inF, outF, sAlpha: 1, ...r.params },
    workgroups: workgroupGrid(r.params.tiles, ctx.device.limits.maxComputeWorkgroupsPerDimension),
    label: r.label,
    cost: r.cost,
  });
  if (absmax.owned) ctx.release(absmax.values);
}

interface LowRank {
  readonly p: GpuTensor;
  readonly q: GpuTensor;
  readonly R: number;
  readonly scale: number;
}

/** y [N, out] (+)= x · deq(Q)ᵀ (+ s · p qᵀ) (+ bias). */
function forward(
  ctx: GpuContext,
  x: GpuTensor,
  q: Nf4Weight,
  out: GpuTensor,
  o: Nf4MatmulOptions & { lowRank?: LowRank; absmax?: GpuTensor },
  label: string,
): void {
  const [outF, inF] = q.shape;
  const kernel = 'nf4_matmul';
  const N = rowsOf(kernel, x, inF, 'x', label);
  if (rowsOf(kernel, out, outF, 'out', label) !== N) throw new GpuError(`out must have ${N} rows`, kernel, label);
  const { bias, lowRank } = o;
  if (bias && (bias.size !== outF || bias.dtype !== 'f32')) throw new GpuError(`bias must be f32 [${outF}]`, kernel, label);
  rejectAliases(kernel, label, [out], [x, bias, lowRank?.p, lowRank?.q, o.absmax]);
  if (N === 0) return;
  const R = lowRank?.R ?? 0;
  const mainTilesX = Math.ceil(outF / 32);
  const mainTiles = mainTilesX * Math.ceil(N / 32);
  const beta = o.accumulate ? 1 : 0;
  runProduct(ctx, {
    entryPoint: kernel,
    q,
    absmax: o.absmax,
    bindings: { src: x, p: lowRank?.p, q: lowRank?.q, f: bias, out },
    params: { rows: N, R, s: lowRank?.scale ?? 1, beta, mainTilesX, mainTiles, SM: 0, SN: 0, SK: 0, sBeta: 0, sideTilesX: 0, tiles: mainTiles },
    hasBias: bias !== undefined,
    label,
    cost: {
      flops: 2 * N * outF * (inF + R) + N * outF * ((bias ? 1 : 0) + beta),
      bytes: weightBytes(q) + 4 * (N * inF + N * R + outF * R + (bias ? outF : 0) + N * outF * (1 + beta)),
    },
  });
}

/** dx [N, in] (+)= G · deq(Q) (+ p q), beside the side product dA (+)= pᵀ x. */
function inputGrad(
  ctx: GpuContext,
  G: GpuTensor,
  q: Nf4Weight,
  dx: GpuTensor,
  o: { accumulate?: boolean; lowRank?: LowRank; gradA?: Nf4LoraInputGradSpec['gradA']; absmax?: GpuTensor },
  label: string,
): void {
  const [outF, inF] = q.shape;
  const kernel = 'nf4_matmul_dx';
  const N = rowsOf(kernel, G, outF, 'G', label);
  if (rowsOf(kernel, dx, inF, 'dx', label) !== N) throw new GpuError(`dx must have ${N} rows`, kernel, label);
  const { lowRank, gradA } = o;
  const R = lowRank?.R ?? 0;
  if (gradA) {
    expectShape(kernel, label, 'x', gradA.x, N, inF);
    expectShape(kernel, label, 'dA', gradA.out, R, inF);
  }
  rejectAliases(kernel, label, [dx, ...(gradA ? [gradA.out] : [])], [G, lowRank?.p, lowRank?.q, gradA?.x, o.absmax]);
  if (N === 0) return;
  const mainTilesX = Math.ceil(inF / 64);
  const mainTiles = mainTilesX * Math.ceil(N / 32);
  const sideTilesX = gradA ? Math.ceil(inF / 32) : 0;
  const sideTiles = gradA ? sideTilesX * Math.ceil(R / 32) : 0;
  const beta = o.accumulate ? 1 : 0;
  const sBeta = gradA?.accumulate ? 1 : 0;
  runProduct(ctx, {
    entryPoint: kernel,
    q,
    absmax: o.absmax,
    bindings: { src: G, p: lowRank?.p, q: lowRank?.q, out: dx, ...(gradA && { f: gradA.x, d: gradA.out }) },
    params: {
      rows: N,
      R,
      s: lowRank?.scale ?? 1,
      beta,
      mainTilesX,
      mainTiles,
      SM: gradA ? R : 0,
      SN: gradA ? inF : 0,
      SK: N,
      sBeta,
      sideTilesX,
      tiles: mainTiles + sideTiles,
    },
    hasBias: false,
    label,
    cost: {
      flops: 2 * N * inF * (outF + R) + N * inF * beta + (gradA ? 2 * R * inF * N + R * inF * sBeta : 0),
      bytes: weightBytes(q) + 4 * (N * outF + N * R + R * inF + N * inF * (1 + beta) + (gradA ? N * inF + R * inF * (1 + sBeta) : 0)),
    },
  });
}

/** y [N, out] = x [N, in] · deq(Q)ᵀ (+ bias), without materialising deq(Q). Returns y. */
export function nf4Matmul(ctx: GpuContext, x: GpuTensor, q: Nf4Weight, out: GpuTensor, options: Nf4MatmulOptions = {}): GpuTensor {
  forward(ctx, x, q, out, options, `nf4 matmul ${x.describe()}×${describe(q)}ᵀ→${out.describe()}`);
  return out;
}

/** dx [N, in] (+)= G [N, out] · deq(Q), without materialising deq(Q). Returns dx. */
export function nf4MatmulInputGrad(ctx: GpuContext, G: GpuTensor, q: Nf4Weight, dx: GpuTensor, accumulate = false): GpuTensor {
  inputGrad(ctx, G, q, dx, { accumulate }, `nf4 matmul dx ${G.describe()}×${describe(q)}→${dx.describe()}`);
  return dx;
}

/** y [N, out] (+)= x [N, in] · deq(Q)ᵀ + scale · p [N, R] · Bᵀ (+ bias) as one dispatch. */
export function nf4LoraMatmul(ctx: GpuContext, spec: Nf4LoraMatmulSpec): void {
  const { x, q, p, B, out } = spec;
  const label = `nf4 lora matmul ${x.describe()}×${describe(q)}ᵀ + ${p.describe()}×${B.describe()}ᵀ→${out.describe()}`;
  const R = B.shape[B.shape.length - 1] ?? 0;
  expectShape('nf4_matmul', label, 'p', p, rowsOf('nf4_matmul', x, q.shape[1], 'x', label), R);
  expectShape('nf4_matmul', label, 'B', B, q.shape[0], R);
  forward(ctx, x, q, out, { ...spec, lowRank: { p, q: B, R, scale: spec.scale } }, label);
}

/** dx [N, in] (+)= G [N, out] · deq(Q) + dh [N, R] · A, beside dA (+)= dhᵀ x, as one dispatch. */
export function nf4LoraInputGrad(ctx: GpuContext, spec: Nf4LoraInputGradSpec): void {
  const { G, q, dh, A, dx, gradA } = spec;
  const label = `nf4 lora matmul dx ${G.describe()}×${describe(q)} + ${dh.describe()}×${A.describe()}→${dx.describe()}${gradA ? `, dA ${gradA.out.describe()}` : ''}`;
  const R = A.shape[0] ?? 0;
  expectShape('nf4_matmul_dx', label, 'dh', dh, rowsOf('nf4_matmul_dx', G, q.shape[0], 'G', label), R);
  expectShape('nf4_matmul_dx', label, 'A', A, R, q.shape[1]);
  inputGrad(ctx, G, q, dx, { accumulate: spec.accumulate, lowRank: { p: dh, q: A, R, scale: 1 }, gradA, absmax: spec.absmax }, label);
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
