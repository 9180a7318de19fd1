// Float64 CPU references and comparison helpers for kernel tests. Plain loops on purpose:
// these are the definitions the GPU kernels are checked against.

/** Deterministic PRNG (mulberry32) so failing inputs can be reproduced from the seed. */
export function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-1, 1), rounded to f32 so CPU and GPU see identical inputs. */
export function randomArray(size: number, seed: number, scale = 1): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = (next() * 2 - 1) * scale;
  return out;
}

/** C [M, N] = op(A) op(B) in float64; A is [M,K] (or [K,M] if transA), B is [K,N] (or [N,K]). */
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number, transA = false, transB = false): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const av = transA ? a[k * M + m]! : a[m * K + k]!;
        const bv = transB ? b[n * K + k]! : b[k * N + n]!;
        acc += av * bv;
      }
      c[m * N + n] = acc;
    }
  }
  return c;
}

/** y [N, out] = x Wᵀ (+ b) in float64: x [N, in], W [out, in] row-major, b [out]. */
export function linearRef(x: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number> | undefined, N: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(N * outF);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < outF; o++) {
      let acc = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) acc += x[n * inF + i]! * W[o * inF + i]!;
      y[n * outF + o] = acc;
    }
  }
  return y;
}

/**
 * Normwise relative error max|actual − expected| / max|expected| (or the absolute error when
 * expected is all zeros). Elementwise relative error is meaningless for entries that cancel to ~0.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    if (!(diff <= maxDiff)) maxDiff = diff; // also catches NaN
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

/**
 * Reductions of x [R, C] over its last dimension in float64 → [R]: Σ x, Σ x², or max x (an empty
 * row gives 0, or -Infinity for max). A whole tensor of n elements is R = 1, C = n.
 */
export function reduceRowsRef(x: ArrayLike<number>, R: number, C: number, kind: 'sum' | 'sumSquares' | 'max'): Float64Array {
  const out = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let acc = kind === 'max' ? -Infinity : 0;
    for (let c = 0; c < C; c++) {
      const v = x[r * C + c]!;
      if (kind === 'max') acc = Math.max(acc, v);
      else acc += kind === 'sumSquares' ? v * v : v;
    }
    out[r] = acc;
  }
  return out;
}
