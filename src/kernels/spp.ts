// Wrapper of shaders/spp.wgsl: SPP's sparsity-preserving adapted linear layer, never forming the
// adapted weight [out, in] except in mergeSpp:
//   W'_ij = W_ij · (1 + s · Wcol[i] · Wrow[k(i), j]),  k(i) = floor(i / (out/16)),
//   W [out, in] pruned and frozen, Wrow [16, in], Wcol [out], out % 16 == 0.
//
//   sppForward(ctx, x [N, in], W, Wrow, Wcol, s, bias?) → y [N, out] = x W'ᵀ (+ bias)
//   sppGradInput(ctx, G [N, out], W, Wrow, Wcol, s) → dx [N, in] = G W'
//   sppGradWcol(ctx, x, G, W, Wrow, s, opts) → [out]:    s Σ_n G[n,i] Σ_j x[n,j] W_ij Wrow[k(i),j]
//   sppGradWrow(ctx, x, G, W, Wcol, s, opts) → [16, in]: s Σ_n x[n,j] Σ_{i∈k} G[n,i] Wcol[i] W_ij
//     Both are ADAPTERS.md's sums over D = Gᵀ x, regrouped so that D is never formed: per-chunk
//     partial sums ([ceil(N/rowsPerPartial), out] and [ceil(N/rowsPerPartial), 16·in], released
//     right after use) folded by columnSum. `into` + `accumulate` add into an existing gradient.
//   columnSum(ctx, a [P, C], opts) → [C] = alpha · Σ_p a[p, :] (+ into) (also ∂L/∂bias = 1ᵀ G).
//   mergeSpp(ctx, W, Wrow, Wcol, s) → new W' [out, in], +0 exactly wherever W == 0.
// x and G are 2-D here; the op (tensor/ops/sppLinear.ts) flattens leading dimensions.

import source from '../../shaders/spp.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

// Named after the op it serves (tensor/ops/sppLinear.ts); the bare method id is the registry's to spell.
const shader = defineShader('spp_linear', source);

/** SPP's fixed number of row blocks (the rows of Wrow). */
export const SPP_BLOCKS = 16;

/** Tokens per partial sum in sppGradWcol / sppGradWrow (a multiple of the 4-token tile). */
export const SPP_ROWS_PER_PARTIAL = 32;

const WG = 64;

export interface SppGradOptions {
  /** Write (or, with accumulate, add) the gradient here instead of a new tensor. */
  readonly into?: GpuTensor;
  readonly accumulate?: boolean;
  /** Tokens per partial sum (positive multiple of 4); tests vary it. */
  readonly rowsPerPartial?: number;
}

interface SppShape {
  readonly out: number;
  readonly inF: number;
  readonly blockRows: number;
}

function same(t: GpuTensor, shape: readonly number[]): boolean {
  return t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
}

/** Validates W [out, in] (out % 16 == 0), Wrow [16, in], Wcol [out], s; returns the sizes. */
function checkWeights(kernel: string, W: GpuTensor, s: number, Wrow?: GpuTensor, Wcol?: GpuTensor): SppShape {
  const shapes = [`W ${W.describe()}`, Wrow ? `Wrow ${Wrow.describe()}` : '', Wcol ? `Wcol ${Wcol.describe()}` : ''].filter(Boolean).join(', ');
  const fail = (message: string): never => {
    throw new GpuError(message, kernel, shapes);
  };
  if (W.shape.length !== 2) fail('W must be [out, in]');
  const [out, inF] = W.shape as [number, number];
  if (out === 0 || out % SPP_BLOCKS !== 0) fail(`SPP needs out (${out}) to be a positive multiple of ${SPP_BLOCKS}`);
  if (inF === 0) fail('W has no input features');
  if (Wrow && !same(Wrow, [SPP_BLOCKS, inF])) fail(`Wrow must be [${SPP_BLOCKS}, ${inF}]`);
  if (Wcol && !same(Wcol, [out])) fail(`Wcol must be [${out}]`);
  if (!Number.isFinite(s)) fail(`scale s = ${s} is not finite`);
  for (const [name, t] of [
    ['W', W],
    ['Wrow', Wrow],
    ['Wcol', Wcol],
  ] as const) {
    if (t && t.dtype !== 'f32') fail(`${name} must be f32, is ${t.dtype}`);
  }
  return { out, inF, blockRows: out / SPP_BLOCKS };
}

function checkActivation(kernel: string, name: string, t: GpuTensor, cols: number): number {
  if (t.shape.length !== 2 || t.shape[1] !== cols) throw new GpuError(`${name} must be [N, ${cols}]`, kernel, `${name} ${t.describe()}`);
  if (t.dtype !== 'f32') throw new GpuError(`${name} must be f32, is ${t.dtype}`, kernel, `${name} ${t.describe()}`);
  return t.shape[0]!;
}

function checkOutput(kernel: string, t: GpuTensor, shape: readonly number[], inputs: readonly GpuTensor[]): void {
  if (!same(t, shape) || t.dtype !== 'f32') throw new GpuError(`output must be f32 [${shape.join(',')}]`, kernel, `out ${t.describe()}`);
  if (inputs.some((u) => u.buffer === t.buffer)) throw new GpuError('output must not alias an input', kernel, `out ${t.describe()}`);
}

function baseParams(sh: SppShape, tokens: number, s: number): Record<string, number> {
  return { tokens, out_f: sh.out, in_f: sh.inF, block_rows: sh.blockRows, s, chunk: 4, chunks: 0, sum_rows: 0, sum_cols: 0, alpha: 1, beta: 0 };
}

/** y [N, out] = x [N, in] · W'ᵀ (+ bias [out]). */
export function sppForward(
  ctx: GpuContext,
  x: GpuTensor,
  W: GpuTensor,
  Wrow: GpuTensor,
  Wcol: GpuTensor,
  s: number,
  bias?: GpuTensor,
  out?: GpuTensor,
): GpuTensor {
  const sh = checkWeights('spp_forward', W, s, Wrow, Wcol);
  const N = checkActivation('spp_forward', 'x', x, sh.inF);
  if (bias && (!same(bias, [sh.out]) || bias.dtype !== 'f32')) throw new GpuError(`bias must be f32 [${sh.out}]`, 'spp_forward', `bias ${bias.describe()}`);
  const y = out ?? ctx.empty([N, sh.out], 'f32', 'spp output');
  checkOutput('spp_forward', y, [N, sh.out], [x, W, Wrow, Wcol, ...(bias ? [bias] : [])]);
  ctx.dispatch({
    shader,
    entryPoint: 'spp_forward',
    constants: { HAS_BIAS: bias !== undefined },
    bindings: { x, w: W, wrow: Wrow, wcol: Wcol, bias: bias ?? ctx.placeholder(), gy: ctx.placeholder(), out: y },
    params: baseParams(sh, N, s),
    workgroups: [Math.ceil(sh.out / 32), Math.ceil(N / 32)],
    label: `spp_forward x ${x.describe()} W ${W.describe()} s=${s}${bias ? ' +bias' : ''}`,
  });
  return y;
}

/** dx [N, in] = G [N, out] · W'. */
export function sppGradInput(ctx: GpuContext, G: GpuTensor, W: GpuTensor, Wrow: GpuTensor, Wcol: GpuTensor, s: number, out?: GpuTensor): GpuTensor {
  const sh = checkWeights('spp_grad_x', W, s, Wrow, Wcol);
  const N = checkActivation('spp_grad_x', 'G', G, sh.out);
  const dx = out ?? ctx.empty([N, sh.inF], 'f32', 'spp dx');
  checkOutput('spp_grad_x', dx, [N, sh.inF], [G, W, Wrow, Wcol]);
  ctx.dispatch({
    shader,
    entryPoint: 'spp_grad_x',
    bindings: { x: ctx.placeholder(), w: W, wrow: Wrow, wcol: Wcol, bias: ctx.placeholder(), gy: G, out: dx },
    params: baseParams(sh, N, s),
    workgroups: [Math.ceil(sh.inF / 32), Math.ceil(N / 32)],
    label: `spp_grad_x G ${G.describe()} W ${W.describe()} s=${s}`,
  });
  return dx;
}

function rowsPerPartial(kernel: string, options: SppGradOptions): number {
  const chunk = options.rowsPerPartial ?? SPP_ROWS_PER_PARTIAL;
  if (!Number.isInteger(chunk) || chunk <= 0 || chunk % 4 !== 0) throw new GpuError(`rowsPerPartial ${chunk} must be a positive multiple of 4`, kernel);
  return chunk;
}

/** Resolves the gradient's destination: `into` (checked) or a new tensor. */
function destination(
  ctx: GpuContext,
  kernel: string,
  shape: readonly number[],
  inputs: readonly GpuTensor[],
  options: SppGradOptions,
  what: string,
): GpuTensor {
  if (options.accumulate && !options.into) throw new GpuError('accumulate needs `into`', kernel);
  const dst = options.into ?? ctx.empty(shape, 'f32', what);
  checkOutput(kernel, dst, shape, inputs);
  return dst;
}

/** ∂L/∂Wcol [out] = s Σ_n G[n, i] Σ_j x[n, j] W_ij Wrow[k(i), j]. */
export function sppGradWcol(ctx: GpuContext, x: GpuTensor, G: GpuTensor, W: GpuTensor, Wrow: GpuTensor, s: number, options: SppGradOptions = {}): GpuTensor {
  const kernel = 'spp_grad_col';
  const sh = checkWeights(kernel, W, s, Wrow);
  const N = checkActivation(kernel, 'x', x, sh.inF);
  if (checkActivation(kernel, 'G', G, sh.out) !== N) throw new GpuError('x and G have different token counts', kernel, `x ${x.describe()}, G ${G.describe()}`);
  const chunk = rowsPerPartial(kernel, options);
  const dst = destination(ctx, kernel, [sh.out], [x, G, W, Wrow], options, 'spp dWcol');
  const chunks = Math.ceil(N / chunk);
  const partials = ctx.empty([chunks, sh.out], 'f32', 'spp dWcol partials');
  ctx.dispatch({
    shader,
    entryPoint: 'spp_grad_col',
    bindings: { x, w: W, wrow: Wrow, wcol: ctx.placeholder(), bias: ctx.placeholder(), gy: G, out: partials },
    params: { ...baseParams(sh, N, s), chunk, chunks },
    workgroups: [Math.ceil(sh.out / 32), Math.ceil(chunks / 8)],
    label: `spp_grad_col x ${x.describe()} G ${G.describe()} W ${W.describe()}`,
  });
  columnSum(ctx, partials, { alpha: s, into: dst, accumulate: options.accumulate });
  ctx.release(partials);
  return dst;
}

/** ∂L/∂Wrow [16, in] = s Σ_n x[n, j] Σ_{i ∈ block k} G[n, i] Wcol[i] W_ij. */
export function sppGradWrow(ctx: GpuContext, x: GpuTensor, G: GpuTensor, W: GpuTensor, Wcol: GpuTensor, s: number, options: SppGradOptions = {}): GpuTensor {
  const kernel = 'spp_grad_row';
  const sh = checkWeights(kernel, W, s, undefined, Wcol);
  const N = checkActivation(kernel, 'x', x, sh.inF);
  if (checkActivation(kernel, 'G', G, sh.out) !== N) throw new GpuError('x and G have different token counts', kernel, `x ${x.describe()}, G ${G.describe()}`);
  const chunk = rowsPerPartial(kernel, options);
  const dst = destination(ctx, kernel, [SPP_BLOCKS, sh.inF], [x, G, W, Wcol], options, 'spp dWrow');
  const chunks = Math.ceil(N / chunk);
  const partials = ctx.empty([chunks, SPP_BLOCKS * sh.inF], 'f32', 'spp dWrow partials');
  ctx.dispatch({
    shader,
    entryPoint: 'spp_grad_row',
    bindings: { x, w: W, wrow: ctx.placeholder(), wcol: Wcol, bias: ctx.placeholder(), gy: G, out: partials },
    params: { ...baseParams(sh, N, s), chunk, chunks },
    workgroups: [Math.ceil(sh.inF / 32), Math.ceil(chunks / 8), SPP_BLOCKS],
    label: `spp_grad_row x ${x.describe()} G ${G.describe()} W ${W.describe()}`,
  });
  columnSum(ctx, partials, { alpha: s, into: dst.view([SPP_BLOCKS * sh.inF]), accumulate: options.accumulate });
  ctx.release(partials);
  return dst;
}

export interface ColumnSumOptions {
  readonly alpha?: number;
  readonly into?: GpuTensor;
  readonly accumulate?: boolean;
}

/** [C] = alpha · Σ over rows of a [P, C] (+ the previous contents of `into` with accumulate). */
export function columnSum(ctx: GpuContext, a: GpuTensor, options: ColumnSumOptions = {}): GpuTensor {
  const { alpha = 1, into, accumulate = false } = options;
  if (a.shape.length !== 2 || a.dtype !== 'f32') throw new GpuError('a must be f32 [P, C]', 'column_sum', `a ${a.describe()}`);
  const [P, C] = a.shape as [number, number];
  if (accumulate && !into) throw new GpuError('accumulate needs `into`', 'column_sum');
  if (!Number.isFinite(alpha)) throw new GpuError(`alpha ${alpha} is not finite`, 'column_sum');
  const dst = into ?? ctx.empty([C], 'f32', 'column sum');
  if (dst.size !== C || dst.dtype !== 'f32')
    throw new GpuError(`output must be f32 with ${C} elements`, 'column_sum', `a ${a.describe()}, out ${dst.describe()}`);
  if (dst.buffer === a.buffer) throw new GpuError('output must not alias the input', 'column_sum', `a ${a.describe()}`);
  ctx.dispatch({
    shader,
    entryPoint: 'column_sum',
    constants: { WG },
    bindings: { x: ctx.placeholder(), w: ctx.placeholder(), wrow: ctx.placeholder(), wcol: ctx.placeholder(), bias: ctx.placeholder(), gy: a, out: dst },
    params: { tokens: 0, out_f: 0, in_f: 0, block_rows: 1, s: 0, chunk: 4, chunks: 0, sum_rows: P, sum_cols: C, alpha, beta: accumulate ? 1 : 0 },
    workgroups: gridFor(ctx, C, WG),
    label: `column_sum ${a.describe()}${accumulate ? ' +=' : ''}`,
  });
  return dst;
}

/** W' [out, in] = W ⊙ (1 + s · Wcol Wrow[k(i)]), a new tensor with W's zero pattern exactly. */
export function mergeSpp(ctx: GpuContext, W: GpuTensor, Wrow: GpuTensor, Wcol: GpuTensor, s: number): GpuTensor {
  const sh = checkWeights('spp_merge', W, s, Wrow, Wcol);
  const merged = ctx.empty(W.shape, 'f32', 'spp merged W');
  ctx.dispatch({
    shader,
    entryPoint: 'spp_merge',
    constants: { WG },
    bindings: { x: ctx.placeholder(), w: W, wrow: Wrow, wcol: Wcol, bias: ctx.placeholder(), gy: ctx.placeholder(), out: merged },
    params: baseParams(sh, 0, s),
    workgroups: gridFor(ctx, W.size, WG),
    label: `spp_merge W ${W.describe()} s=${s}`,
  });
  return merged;
}
