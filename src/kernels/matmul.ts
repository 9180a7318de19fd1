// Wrapper of shaders/matmul.wgsl: C = alpha · op(A) · op(B) (+ bias) (+ C), batched.
//   a: [..., M, K] ([..., K, M] with transA); b: [..., K, N] ([..., N, K] with transB);
//   out: [..., M, N]. Leading (batch) dimensions must match, or one operand may have none and
//   is then shared by every batch entry.
// Variants (all behind this one function, chosen from the adapter and the shape; tests force each):
//   registers: 4×4 register tile per invocation, scalar loads, any shape (matmul.wgsl);
//   vec4:      8×4 register tile fed by vec4 loads, needs aligned shapes (matmul_vec4.wgsl);
//   tiled:     64×64 workgroup-memory tiles with barriers, for real GPUs (matmul.wgsl);
//   subgroup:  split-K, one subgroup per 4×4 block of C, lanes combined by subgroupAdd
//              (matmul_subgroup.wgsl; f32 operands, devices with the `subgroups` feature).
// Software adapters (SwiftShader) get vec4 when the shape allows it, else registers; barriers cost
// more than they save there. Real GPUs get tiled. A tuning table measured on the device
// (matmulTuning.ts, GpuContext.matmulTuning) overrides both per shape class.
// Packed 16-bit operands (GpuTensor.half: frozen bf16/f16 weights, two per u32) take the same three
// variants, compiled from the same kernel bodies with packed loads spliced in (matmul_half_loads.wgsl
// / matmul_vec4_half_loads.wgsl), which unpack inside the loads (exact: bf16 is a shift, f16
// unpack2x16float, or vec2<f16> reads where the device has shader-f16). B may be packed in every
// variant (y = x Wᵀ and dx = dy W); A only in registers and tiled (vec4 falls back to registers).

import source from '../../shaders/matmul.wgsl?raw';
import vec4Source from '../../shaders/matmul_vec4.wgsl?raw';
import halfLoads from '../../shaders/matmul_half_loads.wgsl?raw';
import vec4HalfLoads from '../../shaders/matmul_vec4_half_loads.wgsl?raw';
import subgroupSource from '../../shaders/matmul_subgroup.wgsl?raw';
import { defineShader, type GpuContext, type ShaderDef } from '../gpu/context';
import type { GpuTensor, HalfFormat } from '../gpu/tensor';
import { GpuError, InternalError } from '../errors';

const shader = defineShader('matmul', source);
const vec4Shader = defineShader('matmul_vec4', vec4Source);
/** matmul.wgsl's declarations and kernels with the subgroup kernel after them, compiled only where the device has subgroups. */
const subgroupShader = defineShader('matmul_subgroup', `enable subgroups;\n${source}\n${subgroupSource}`);

/** f16_pair's body in the half loads, and what it becomes under shader-f16 (the same values). */
export const F16_PAIR = { core: 'return unpack2x16float(w);', shaderF16: 'return vec2<f32>(bitcast<vec2<f16>>(w));' } as const;

/** The f32 loads block of a kernel body, markers included (WGSL has no includes: see withLoads). */
const LOADS_BLOCK = /\/\/ <operand loads>\r?\n[\s\S]*?\/\/ <\/operand loads>\r?\n/g;

/**
 * A kernel body with its f32 <operand loads> block replaced by `loads`, and its entry points
 * renamed matmul_* → matmul_half_* (so profiles keep packed and f32 products apart).
 */
function withLoads(name: string, body: string, loads: string): string {
  const blocks = body.match(LOADS_BLOCK)?.length ?? 0;
  if (blocks !== 1) throw new InternalError(`${name}: the kernel body has ${blocks} <operand loads> blocks, not one`);
  return body.replace(LOADS_BLOCK, () => loads).replace(/\bfn matmul_/g, 'fn matmul_half_');
}

/** A half shader as composed, and compiled with `enable f16;` reading f16 pairs as vec2<f16>. */
function halfShaders(name: string, wgsl: string): { readonly core: ShaderDef; readonly shaderF16: ShaderDef } {
  if (!wgsl.includes(F16_PAIR.core)) throw new InternalError(`${name}: f16_pair's body is not "${F16_PAIR.core}"`);
  return { core: defineShader(name, wgsl), shaderF16: defineShader(`${name}_f16`, `enable f16;\n${wgsl.replace(F16_PAIR.core, F16_PAIR.shaderF16)}`) };
}

const halfShader = halfShaders('matmul_half', withLoads('matmul_half', source, halfLoads));
const halfVec4Shader = halfShaders('matmul_half_vec4', withLoads('matmul_half_vec4', vec4Source, vec4HalfLoads));

/** The half shaders' A_FORMAT / B_FORMAT codes. */
function formatCode(half: HalfFormat | undefined): number {
  return half === undefined ? 0 : half === 'bf16' ? 1 : 2;
}

export type MatmulVariant = 'registers' | 'vec4' | 'tiled' | 'subgroup';
/** The variants every product form has (packed 16-bit operands, the fused LoRA kernels). */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['registers', 'vec4', 'tiled'];
/** Every variant of the plain f32 product: MATMUL_VARIANTS and the subgroup kernel. */
export const F32_MATMUL_VARIANTS: readonly MatmulVariant[] = [...MATMUL_VARIANTS, 'subgroup'];

export interface MatmulOptions {
  readonly transA?: boolean;
  readonly transB?: boolean;
  /** [N], added to every row of the product. */
  readonly bias?: GpuTensor;
  readonly alpha?: number;
  /** Add the product into `out` instead of overwriting it (gradient accumulation). */
  readonly accumulate?: boolean;
  readonly variant?: MatmulVariant;
  /** Packed f16 operands: use shader-f16 when the device has it (default true); tests force either. */
  readonly shaderF16?: boolean;
}

export function defaultMatmulVariant(ctx: GpuContext, shape?: MatmulShape, transA = false, transB = false, packed = false): MatmulVariant {
  const tuned = shape && ctx.matmulTuning?.get(matmulShapeClass(shape, transA, transB, packed));
  if (tuned && shape && variantAvailable(ctx, tuned, shape, transA, packed)) return tuned;
  if (!ctx.info.isSoftware) return 'tiled';
  return !shape || vec4Compatible(shape, transA) ? 'vec4' : 'registers';
}

/** The vec4 kernel reads 4 consecutive floats along K (or M with transA) and N; A must not be packed. */
export function vec4Compatible(shape: Pick<MatmulShape, 'M' | 'N' | 'K'>, transA: boolean, packedA = false): boolean {
  return !packedA && shape.K % 4 === 0 && shape.N % 4 === 0 && (!transA || shape.M % 4 === 0);
}

/** Whether `variant` can run this product on this device (tuning tables may come from another device). */
export function variantAvailable(
  ctx: GpuContext,
  variant: MatmulVariant,
  shape: Pick<MatmulShape, 'M' | 'N' | 'K'>,
  transA: boolean,
  packed: boolean,
): boolean {
  if (variant === 'vec4') return vec4Compatible(shape, transA) && !packed;
  if (variant === 'subgroup') return ctx.info.features.subgroups && !packed;
  return true;
}

/**
 * The class a product's tuned variant is kept under: transposes, packing, and M, N, K rounded up
 * to powers of two (products of one class behave alike; a model has a handful of classes).
 */
export function matmulShapeClass(shape: Pick<MatmulShape, 'M' | 'N' | 'K'>, transA: boolean, transB: boolean, packed: boolean): string {
  const bucket = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));
  return `${transA ? 't' : 'n'}${transB ? 't' : 'n'}${packed ? 'h' : 'f'} ${bucket(shape.M)}x${bucket(shape.N)}x${bucket(shape.K)}`;
}

export interface MatmulShape {
  readonly batch: number;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly strideA: number;
  readonly strideB: number;
  readonly outShape: readonly number[];
}

export function matmulShape(a: readonly number[], b: readonly number[], transA = false, transB = false): MatmulShape {
  const describe = () => `a [${a.join(',')}]${transA ? 'ᵀ' : ''} × b [${b.join(',')}]${transB ? 'ᵀ' : ''}`;
  if (a.length < 2 || b.length < 2) throw new GpuError('operands must have at least 2 dimensions', 'matmul', describe());
  const [a0, a1] = a.slice(-2) as [number, number];
  const [b0, b1] = b.slice(-2) as [number, number];
  const [M, K] = transA ? [a1, a0] : [a0, a1];
  const [Kb, N] = transB ? [b1, b0] : [b0, b1];
  if (K !== Kb) throw new GpuError(`inner dimensions differ (${K} vs ${Kb})`, 'matmul', describe());
  const batchA = a.slice(0, -2);
  const batchB = b.slice(0, -2);
  const count = (dims: number[]) => dims.reduce((x, y) => x * y, 1);
  let batchDims: number[];
  if (batchA.length === 0) batchDims = batchB;
  else if (batchB.length === 0) batchDims = batchA;
  else if (batchA.join(',') === batchB.join(',')) batchDims = batchA;
  else throw new GpuError('batch dimensions differ', 'matmul', describe());
  return {
    batch: count(batchDims),
    M,
    N,
    K,
    strideA: batchA.length === 0 ? 0 : M * K,
    strideB: batchB.length === 0 ? 0 : K * N,
    outShape: [...batchDims, M, N],
  };
}

/**
 * 2·M·N·K per batch entry (plus the bias add); bytes: A and B read once (a shared operand once),
 * C written (and read, when accumulating), bias read. Tiles re-read operands, so this is a floor.
 */
export function matmulCost(s: MatmulShape, hasBias: boolean, accumulate: boolean, bytesA = 4, bytesB = 4): { flops: number; bytes: number } {
  const outputs = s.batch * s.M * s.N;
  const aElems = (s.strideA === 0 ? 1 : s.batch) * s.M * s.K;
  const bElems = (s.strideB === 0 ? 1 : s.batch) * s.K * s.N;
  const flops = 2 * outputs * s.K + (hasBias ? outputs : 0) + (accumulate ? outputs : 0);
  const bytes = bytesA * aElems + bytesB * bElems + 4 * (outputs * (accumulate ? 2 : 1) + (hasBias ? s.N : 0));
  return { flops, bytes };
}

/** Writes the product into `out` (which must have the output shape) and returns it. */
export function matmulInto(ctx: GpuContext, a: GpuTensor, b: GpuTensor, out: GpuTensor, options: MatmulOptions = {}): GpuTensor {
  const { transA = false, transB = false, bias, alpha = 1, accumulate = false } = options;
  const s = matmulShape(a.shape, b.shape, transA, transB);
  const label = `matmul ${a.describe()}${transA ? 'ᵀ' : ''}×${b.describe()}${transB ? 'ᵀ' : ''}→${out.describe()}`;
  if (out.shape.join(',') !== s.outShape.join(',')) {
    throw new GpuError(`output must be [${s.outShape.join(',')}]`, 'matmul', label);
  }
  if (bias && bias.size !== s.N) throw new GpuError(`bias must have ${s.N} elements, has ${bias.size}`, 'matmul', label);
  if (out === a || out === b) throw new GpuError('output must not alias an input', 'matmul', label);
  for (const [name, t] of [
    ['a', a],
    ['b', b],
  ] as const) {
    if (t.dtype !== 'f32' && !t.half) throw new GpuError(`${name} must be f32 or packed 16-bit, is ${t.dtype}`, 'matmul', label);
  }
  if (out.dtype !== 'f32' || out.half) throw new GpuError('output must be f32', 'matmul', label);
  const packed = a.half !== undefined || b.half !== undefined;
  let variant = options.variant ?? defaultMatmulVariant(ctx, s, transA, transB, packed);
  // Packed A has no vec4 kernel: the registers kernel stands in (same barrier-free class).
  if (variant === 'vec4' && a.half && options.variant === undefined) variant = 'registers';
  if (variant === 'vec4' && !vec4Compatible(s, transA, a.half !== undefined)) {
    throw new GpuError('the vec4 variant needs K and N (and M with transA) divisible by 4 and an f32 A', 'matmul', label);
  }
  if (variant === 'subgroup' && (packed || !ctx.info.features.subgroups)) {
    throw new GpuError('the subgroup variant needs f32 operands and a device with the subgroups feature', 'matmul', label);
  }
  if (variant === 'subgroup') {
    ctx.dispatch({
      shader: subgroupShader,
      entryPoint: 'matmul_subgroup',
      constants: { TRANS_A: transA, TRANS_B: transB, HAS_BIAS: bias !== undefined, SG_WG: Math.min(64, ctx.info.subgroupMinSize ?? 4) },
      bindings: { a, b, bias: bias ?? ctx.placeholder(), c: out },
      params: { M: s.M, N: s.N, K: s.K, strideA: s.strideA, strideB: s.strideB, strideC: s.M * s.N, alpha, beta: accumulate ? 1 : 0 },
      workgroups: [Math.ceil(s.N / 4), Math.ceil(s.M / 4), s.batch],
      label,
      cost: matmulCost(s, bias !== undefined, accumulate),
    });
    return out;
  }
  const [tileRows, tileCols] = variant === 'tiled' ? [64, 64] : variant === 'vec4' ? [64, 32] : [32, 32];
  const f16 = a.half === 'f16' || b.half === 'f16';
  const useShaderF16 = f16 && (options.shaderF16 ?? true) && ctx.info.features.shaderF16;
  const halfPick = (pair: { readonly core: ShaderDef; readonly shaderF16: ShaderDef }) => (useShaderF16 ? pair.shaderF16 : pair.core);
  const entry = variant === 'tiled' ? 'matmul_tiled' : variant === 'vec4' ? 'matmul_vec4' : 'matmul_registers';
  ctx.dispatch({
    shader: packed ? halfPick(variant === 'vec4' ? halfVec4Shader : halfShader) : variant === 'vec4' ? vec4Shader : shader,
    entryPoint: packed ? entry.replace('matmul_', 'matmul_half_') : entry,
    constants: {
      TRANS_A: transA,
      TRANS_B: transB,
      HAS_BIAS: bias !== undefined,
      ...(packed ? { B_FORMAT: formatCode(b.half), ...(variant === 'vec4' ? {} : { A_FORMAT: formatCode(a.half) }) } : {}),
    },
    bindings: { a, b, bias: bias ?? ctx.placeholder(), c: out },
    params: {
      M: s.M,
      N: s.N,
      K: s.K,
      strideA: s.strideA,
      strideB: s.strideB,
      strideC: s.M * s.N,
      alpha,
      beta: accumulate ? 1 : 0,
    },
    workgroups: [Math.ceil(s.N / tileCols), Math.ceil(s.M / tileRows), s.batch],
    label,
    cost: matmulCost(s, bias !== undefined, accumulate, a.half ? 2 : 4, b.half ? 2 : 4),
  });
  return out;
}

export function matmul(ctx: GpuContext, a: GpuTensor, b: GpuTensor, options: MatmulOptions = {}): GpuTensor {
  if (options.accumulate) throw new GpuError('accumulate needs an existing output: use matmulInto', 'matmul');
  const s = matmulShape(a.shape, b.shape, options.transA, options.transB);
  return matmulInto(ctx, a, b, ctx.empty(s.outShape, 'f32', 'matmul output'), options);
}
