// Checks an op's GPU forward against its float64 CPU reference, and its GPU backward against
// central finite differences of that reference:
//   L(x) = Σ_i ref(x)_i · R_i with a fixed random R, ∂L/∂x_j ≈ (L(x + h e_j) − L(x − h e_j)) / 2h.
// The GPU backward is seeded with R as the output gradient, so both sides compute the same
// vector-Jacobian product. Differences are taken on the float64 reference, so h can be small
// and the comparison isolates the GPU's f32 rounding.

import type { GpuContext } from '../gpu/context';
import { Graph } from '../tensor/graph';
import { Tensor } from '../tensor/tensor';
import { randomArray, relativeError, rng } from './reference';

export interface GradcheckInput {
  readonly name: string;
  readonly shape: readonly number[];
  /** Defaults to uniform [-1, 1). */
  readonly data?: Float32Array;
  /** Defaults to true. Integer inputs (ids) must set false. */
  readonly requiresGrad?: boolean;
  readonly dtype?: 'f32' | 'u32' | 'i32';
}

export interface GradcheckOptions {
  readonly inputs: readonly GradcheckInput[];
  readonly gpu: (g: Graph, inputs: Tensor[]) => Tensor;
  readonly cpu: (inputs: Float64Array[]) => ArrayLike<number>;
  readonly seed?: number;
  /** Finite-difference step on the float64 reference. */
  readonly h?: number;
  /** How many entries of each input to check (random subset; all when the input is smaller). */
  readonly samples?: number;
}

export interface GradcheckResult {
  readonly forwardError: number;
  readonly gradErrors: Readonly<Record<string, number>>;
}

export async function gradcheck(ctx: GpuContext, options: GradcheckOptions): Promise<GradcheckResult> {
  const { seed = 1, h = 1e-5, samples = 24 } = options;
  const values = options.inputs.map((input, i) => {
    const size = input.shape.reduce((a, b) => a * b, 1);
    return input.data ?? randomArray(size, seed * 101 + i);
  });
  const graph = new Graph(ctx);
  const leaves = options.inputs.map((input, i) => {
    const dtype = input.dtype ?? 'f32';
    const data =
      dtype === 'f32'
        ? ctx.uploadF32(values[i]!, input.shape, input.name)
        : ctx.upload(dtype === 'u32' ? Uint32Array.from(values[i]!) : Int32Array.from(values[i]!), input.shape, dtype, input.name);
    return Tensor.leaf(data, input.requiresGrad ?? dtype === 'f32', input.name);
  });
  const out = options.gpu(graph, leaves);
  const outValues = await ctx.read(out.data);
  const reference64 = values.map((v) => Float64Array.from(v));
  const expected = options.cpu(reference64);
  const forwardError = relativeError(outValues, expected);

  const R = randomArray(expected.length, seed * 7 + 3);
  const seedGrad = ctx.uploadF32(R, out.shape, 'gradcheck seed');
  graph.backward(out, seedGrad);
  const loss = (inputs: Float64Array[]) => {
    const y = options.cpu(inputs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * R[i]!;
    return s;
  };

  const gradErrors: Record<string, number> = {};
  const pick = rng(seed * 13 + 5);
  for (let i = 0; i < leaves.length; i++) {
    const leaf = leaves[i]!;
    if (!leaf.requiresGrad) continue;
    if (!leaf.grad) {
      gradErrors[leaf.name] = Number.POSITIVE_INFINITY;
      continue;
    }
    const gpuGrad = await ctx.read(leaf.grad);
    const size = gpuGrad.length;
    const indices = size <= samples ? [...Array(size).keys()] : Array.from({ length: samples }, () => Math.floor(pick() * size));
    const fd: number[] = [];
    const got: number[] = [];
    for (const j of indices) {
      const x = reference64[i]!;
      const original = x[j]!;
      x[j] = original + h;
      const plus = loss(reference64);
      x[j] = original - h;
      const minus = loss(reference64);
      x[j] = original;
      fd.push((plus - minus) / (2 * h));
      got.push(gpuGrad[j]!);
    }
    gradErrors[leaf.name] = relativeError(got, fd);
  }
  ctx.release(seedGrad, ...leaves.map((l) => l.data), ...leaves.map((l) => l.grad));
  graph.destroy();
  return { forwardError, gradErrors };
}
