// Wrapper of shaders/matmul_lora.wgsl and matmul_lora_vec4.wgsl (with matmul_lora_side.wgsl): a
// LoRA layer's products in as few dispatches as their dependencies allow (tensor/ops/loraLinear.ts).
// One dispatch computes up to two products:
//   main: out [M, N] (+)= alpha · a [M, K] · op(b) + scale · p [M, R] · op(q)  (+ bias [N])
//         op(b) [K, N]: b [K, N], or [N, K] with transB (W [out, in]), f32 or packed 16-bit;
//         op(q) [R, N]: q [R, N], or [N, R] with transQ. Without a and b, K = 0 (the low-rank
//         term alone, added into an existing output); without p and q, R = 0 (a plain product).
//   grad: grad.out [SM, SN] (+)= grad.alpha · Eᵀ · grad.f, with E [SK, SM] the main product's a
//         (grad.e 'a') or p ('p') and grad.f [SK, SN]: a weight gradient beside the main product
//         (dB = s·Gᵀ h beside dh = s·G B; dA = dhᵀ x beside dx = G W + dh A).
// Either may be absent. Variants (as kernels/matmul.ts chooses them, and tests force each):
// registers and vec4 (barrier-free register tiles, software adapters; vec4 needs K, N, R and the
// grad product's sizes divisible by 4, and reads every operand as vec4s) and tiled (workgroup
// memory, real GPUs). The grad product runs as register blocks (4×4 scalar, 8×4 vec4 in vec4).
// A packed b takes the same variants, with matmul.ts's packed loads spliced in.

import source from '../../shaders/matmul_lora.wgsl?raw';
import vec4Source from '../../shaders/matmul_lora_vec4.wgsl?raw';
import sideSource from '../../shaders/matmul_lora_side.wgsl?raw';
import halfLoads from '../../shaders/matmul_half_loads.wgsl?raw';
import vec4HalfLoads from '../../shaders/matmul_vec4_half_loads.wgsl?raw';
import { defineShader, type GpuContext, type ShaderDef } from '../gpu/context';
import type { GpuTensor, HalfFormat } from '../gpu/tensor';
import { GpuError, InternalError } from '../errors';
import { defaultMatmulVariant, F16_PAIR, matmulShape, type MatmulVariant } from './matmul';
import { workgroupGrid } from './elementwise';

/** The f32 loads block of a kernel body, markers included (WGSL has no includes). */
const LOADS_BLOCK = /\/\/ <operand loads>\r?\n[\s\S]*?\/\/ <\/operand loads>\r?\n/g;

/**
 * body (+ the scalar side product matmul_lora.wgsl takes), with `loads` (if any) in place of its
 * f32 loads and entry points renamed matmul_lora_* → matmul_lora_half_*.
 */
function compose(name: string, body: string, options: { readonly side: boolean; readonly loads?: string }): string {
  const whole = options.side ? `${body}\n${sideSource}` : body;
  const { loads } = options;
  if (loads === undefined) return whole;
  const blocks = whole.match(LOADS_BLOCK)?.length ?? 0;
  if (blocks !== 1) throw new InternalError(`${name}: the kernel body has ${blocks} <operand loads> blocks, not one`);
  return whole.replace(LOADS_BLOCK, () => loads).replace(/\bfn matmul_lora_/g, 'fn matmul_lora_half_');
}

interface HalfPair {
  readonly core: ShaderDef;
  readonly shaderF16: ShaderDef;
}

function halfShaders(name: string, wgsl: string): HalfPair {
  if (!wgsl.includes(F16_PAIR.core)) throw new InternalError(`${name}: f16_pair's body is not "${F16_PAIR.core}"`);
  return { core: defineShader(name, wgsl), shaderF16: defineShader(`${name}_f16`, `enable f16;\n${wgsl.replace(F16_PAIR.core, F16_PAIR.shaderF16)}`) };
}

const shader = defineShader('matmul_lora', compose('matmul_lora', source, { side: true }));
const vec4Shader = defineShader('matmul_lora_vec4', compose('matmul_lora_vec4', vec4Source, { side: false }));
const halfShader = halfShaders('matmul_lora_half', compose('matmul_lora_half', source, { side: true, loads: halfLoads }));
const halfVec4Shader = halfShaders('matmul_lora_half_vec4', compose('matmul_lora_half_vec4', vec4Source, { side: false, loads: vec4HalfLoads }));

export interface LoraGradProduct {
  /** E: the main product's a, or its p. */
  readonly e: 'a' | 'p';
  /** [SK, SN] */
  readonly f: GpuTensor;
  /** [SM, SN] */
  readonly out: GpuTensor;
  readonly alpha?: number;
  readonly accumulate?: boolean;
}

export interface LoraProduct {
  /** [M, K] f32 */
  readonly a?: GpuTensor;
  /** op(b) [K, N]: [K, N], or [N, K] with transB; f32 or packed 16-bit. */
  readonly b?: GpuTensor;
  readonly transB?: boolean;
  readonly alpha?: number;
  /** [M, R] */
  readonly p?: GpuTensor;
  /** op(q) [R, N]: [R, N], or [N, R] with transQ. */
  readonly q?: GpuTensor;
  readonly transQ?: boolean;
  readonly scale?: number;
  /** [N] */
  readonly bias?: GpuTensor;
  /** [M, N]; absent: no main product. */
  readonly out?: GpuTensor;
  readonly accumulate?: boolean;
  readonly grad?: LoraGradProduct;
  readonly variant?: MatmulVariant;
  /** Packed f16 b: use shader-f16 when the device has it (default true); tests force either. */
  readonly shaderF16?: boolean;
  /** Names the dispatch in profiles and errors (default "matmulLora"). */
  readonly name?: string;
}

export interface Dims {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly R: number;
  readonly SM: number;
  readonly SN: number;
  readonly SK: number;
}

function matrix(t: GpuTensor): [number, number] {
  if (t.shape.length !== 2) throw new InternalError(`matmulLora: ${t.describe()} is not a matrix`);
  return [t.shape[0]!, t.shape[1]!];
}

function dims(spec: LoraProduct, label: string): Dims {
  const fail = (why: string) => new GpuError(why, 'matmulLora', label);
  const f32 = (name: string, t: GpuTensor | undefined) => {
    if (t && (t.dtype !== 'f32' || t.half)) throw fail(`${name} must be f32, is ${t.describe()} ${t.dtype}`);
  };
  for (const [name, t] of Object.entries({ a: spec.a, p: spec.p, q: spec.q, bias: spec.bias, out: spec.out, gradF: spec.grad?.f, gradOut: spec.grad?.out }))
    f32(name, t);
  if (spec.b && spec.b.dtype !== 'f32' && !spec.b.half) throw fail(`b must be f32 or packed 16-bit, is ${spec.b.dtype}`);
  if (spec.out && (spec.a === undefined) !== (spec.b === undefined)) throw fail('a and b come together (neither: K = 0)');
  if (spec.out && (spec.p === undefined) !== (spec.q === undefined)) throw fail('p and q come together (neither: R = 0)');
  let M = 0;
  let N = 0;
  let K = 0;
  let R = 0;
  if (spec.out) {
    [M, N] = matrix(spec.out);
    if (spec.a && spec.b) {
      const [am, ak] = matrix(spec.a);
      const [b0, b1] = matrix(spec.b);
      const [bk, bn] = spec.transB ? [b1, b0] : [b0, b1];
      if (am !== M || bn !== N || bk !== ak)
        throw fail(`a ${spec.a.describe()} · b ${spec.b.describe()}${spec.transB ? 'ᵀ' : ''} does not give out ${spec.out.describe()}`);
      K = ak;
    }
    if (spec.p && spec.q) {
      const [pm, pr] = matrix(spec.p);
      const [q0, q1] = matrix(spec.q);
      const [qr, qn] = spec.transQ ? [q1, q0] : [q0, q1];
      if (pm !== M || qn !== N || qr !== pr)
        throw fail(`p ${spec.p.describe()} · q ${spec.q.describe()}${spec.transQ ? 'ᵀ' : ''} does not give out ${spec.out.describe()}`);
      R = pr;
    }
    if (!(spec.a && spec.b) && !(spec.p && spec.q)) throw fail('the main product needs a and b, or p and q');
    if (spec.bias && spec.bias.size !== N) throw fail(`bias must have ${N} elements, is ${spec.bias.describe()}`);
    for (const t of [spec.a, spec.b, spec.p, spec.q, spec.bias]) if (t && t.buffer === spec.out.buffer) throw fail('out must not alias an input');
  }
  let SM = 0;
  let SN = 0;
  let SK = 0;
  const grad = spec.grad;
  if (grad) {
    const e = grad.e === 'a' ? spec.a : spec.p;
    if (!e) throw fail(`the grad product reads ${grad.e}, which is not given`);
    [SK, SM] = matrix(e);
    const [fk, fn] = matrix(grad.f);
    const [om, on] = matrix(grad.out);
    if (fk !== SK || om !== SM || on !== fn) throw fail(`${grad.e} ${e.describe()}ᵀ · f ${grad.f.describe()} does not give ${grad.out.describe()}`);
    SN = fn;
    for (const t of [spec.a, spec.b, spec.p, spec.q, spec.bias, grad.f, spec.out])
      if (t && t.buffer === grad.out.buffer) throw fail('grad.out must not alias an input or out');
  }
  return { M, N, K, R, SM, SN, SK };
}

/** Whether the vec4 kernel takes these sizes: K, N, R and the grad product's SM and SN divisible by 4. */
export function loraVec4Compatible(d: Pick<Dims, 'K' | 'N' | 'R' | 'SM' | 'SN'>): boolean {
  return [d.K, d.N, d.R, d.SM, d.SN].every((n) => n % 4 === 0);
}

/** The variant this wrapper runs (tiled on real GPUs; vec4 where aligned, else registers, on software). */
export function loraVariant(ctx: GpuContext, d: Pick<Dims, 'K' | 'N' | 'R' | 'SM' | 'SN'>): MatmulVariant {
  if (!ctx.info.isSoftware) return 'tiled';
  return loraVec4Compatible(d) ? 'vec4' : 'registers';
}

/**
 * Whether a · op(b) [M, N] with a low-rank term of rank R (and a grad product of SM × SN) runs in the
 * variant matmulInto picks for the product alone: the same loop in the same order, so adding the
 * low-rank term (zero at init for LoRA-style methods) into its epilogue changes no bit of the product.
 * Not so on software adapters when only R (or the grad sizes) keeps the vec4 kernel out: then the
 * product is better left to matmulInto and the low-rank term added by a K = 0 dispatch.
 */
export function fusesExactly(ctx: GpuContext, d: Pick<Dims, 'M' | 'N' | 'K' | 'R' | 'SM' | 'SN'>, transB: boolean): boolean {
  const plain = defaultMatmulVariant(ctx, matmulShape([d.M, d.K], transB ? [d.N, d.K] : [d.K, d.N], false, transB));
  return loraVariant(ctx, d) === plain;
}

function formatCode(half: HalfFormat | undefined): number {
  return half === undefined ? 0 : half === 'bf16' ? 1 : 2;
}

/** 2·(M·N·(K + R) + SM·SN·SK) FLOPs; every operand read once and each output written (and read when accumulating) once. */
export function loraProductCost(spec: LoraProduct, d: Dims): { flops: number; bytes: number } {
  const bytesB = spec.b?.half ? 2 : 4;
  let flops = 0;
  let bytes = 0;
  if (spec.out) {
    flops += 2 * d.M * d.N * (d.K + d.R) + (spec.bias ? d.M * d.N : 0) + (spec.accumulate ? d.M * d.N : 0);
    bytes += 4 * (d.M * d.K + d.M * d.R + d.R * d.N + (spec.bias ? d.N : 0) + d.M * d.N * (spec.accumulate ? 2 : 1)) + bytesB * d.K * d.N;
  }
  if (spec.grad) {
    flops += 2 * d.SM * d.SN * d.SK + (spec.grad.accumulate ? d.SM * d.SN : 0);
    // E is already counted when the main product reads it too.
    const eCounted = spec.out !== undefined && (spec.grad.e === 'p' ? d.R > 0 : d.K > 0);
    bytes += 4 * ((eCounted ? 0 : d.SK * d.SM) + d.SK * d.SN + d.SM * d.SN * (spec.grad.accumulate ? 2 : 1));
  }
  return { flops, bytes };
}

const unused = new WeakMap<GpuContext, [GpuTensor, GpuTensor]>();

/**
 * Two 16-byte tensors bound as c and d when a product is absent: a buffer bound writable must not
 * also be bound read-only in the same dispatch (the placeholder is, for every absent input).
 * Never written (no workgroup runs the absent product); kept for the context's life.
 */
function unusedOutputs(ctx: GpuContext): [GpuTensor, GpuTensor] {
  let pair = unused.get(ctx);
  if (!pair || pair[0].released || pair[1].released) {
    pair = [ctx.empty([4], 'f32', 'matmulLora unused output'), ctx.empty([4], 'f32', 'matmulLora unused grad output')];
    unused.set(ctx, pair);
  }
  return pair;
}

/** Records the products of `spec` as one dispatch (nothing when it has none). */
export function matmulLoraInto(ctx: GpuContext, spec: LoraProduct): void {
  const name = spec.name ?? 'matmulLora';
  const shapes = Object.entries({ a: spec.a, b: spec.b, p: spec.p, q: spec.q, out: spec.out, f: spec.grad?.f, grad: spec.grad?.out })
    .filter(([, t]) => t !== undefined)
    .map(([k, t]) => `${k} ${t!.describe()}`)
    .join(', ');
  const label = `${name} ${shapes}`;
  const d = dims(spec, label);
  if (!spec.out && !spec.grad) return;
  const packed = spec.b?.half !== undefined;
  const variant = spec.variant ?? loraVariant(ctx, d);
  if (variant === 'vec4' && !loraVec4Compatible(d)) {
    throw new GpuError("the vec4 variant needs K, N, R (and the grad product's sizes) divisible by 4", 'matmulLora', label);
  }
  // Rows × columns of C (and of D) per workgroup.
  const [rows, cols] = variant === 'tiled' ? [64, 64] : variant === 'vec4' ? [64, 32] : [32, 32];
  const mainTilesX = spec.out ? Math.ceil(d.N / cols) : 0;
  const mainTiles = spec.out && d.M > 0 && d.N > 0 ? mainTilesX * Math.ceil(d.M / rows) : 0;
  const sideTilesX = spec.grad ? Math.ceil(d.SN / cols) : 0;
  const sideTiles = spec.grad && d.SM > 0 && d.SN > 0 ? sideTilesX * Math.ceil(d.SM / rows) : 0;
  const tiles = mainTiles + sideTiles;
  if (tiles === 0) return;
  const useShaderF16 = spec.b?.half === 'f16' && (spec.shaderF16 ?? true) && ctx.info.features.shaderF16;
  const pick = (pair: HalfPair) => (useShaderF16 ? pair.shaderF16 : pair.core);
  const entry = `matmul_lora_${packed ? 'half_' : ''}${variant}`;
  const placeholder = ctx.placeholder();
  const [noOut, noGradOut] = unusedOutputs(ctx);
  ctx.dispatch({
    shader: packed ? pick(variant === 'vec4' ? halfVec4Shader : halfShader) : variant === 'vec4' ? vec4Shader : shader,
    entryPoint: entry,
    constants: {
      TRANS_B: spec.transB ?? false,
      TRANS_Q: spec.transQ ?? false,
      HAS_BIAS: spec.bias !== undefined,
      SIDE_E_IS_P: spec.grad?.e === 'p',
      ...(packed ? { B_FORMAT: formatCode(spec.b!.half), ...(variant === 'vec4' ? {} : { A_FORMAT: 0 }) } : {}),
    },
    bindings: {
      a: spec.a ?? placeholder,
      b: spec.b ?? placeholder,
      bias: spec.bias ?? placeholder,
      c: spec.out ?? noOut,
      p: spec.p ?? placeholder,
      q: spec.q ?? placeholder,
      f: spec.grad?.f ?? placeholder,
      d: spec.grad?.out ?? noGradOut,
    },
    params: {
      ...d,
      alpha: spec.alpha ?? 1,
      beta: spec.accumulate ? 1 : 0,
      s: spec.scale ?? 1,
      mainTilesX,
      mainTiles,
      sAlpha: spec.grad?.alpha ?? 1,
      sBeta: spec.grad?.accumulate ? 1 : 0,
      sideTilesX,
      tiles,
    },
    workgroups: workgroupGrid(tiles, ctx.device.limits.maxComputeWorkgroupsPerDimension),
    label,
    cost: loraProductCost(spec, d),
  });
}
