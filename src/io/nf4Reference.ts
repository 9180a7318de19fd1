// NF4 (4-bit NormalFloat) block quantization, CPU reference, bit-exact to bitsandbytes'
// quantize_4bit(quant_type="nf4", blocksize=64) CUDA path (kQuantizeBlockwise + dQuantizeNF4),
// with optional double quantization of the absmax values (compress_statistics=True:
// quantize_blockwise(absmax − mean, code=create_dynamic_map(signed=True), blocksize=256)).
// Pure data in and out (typed arrays); shaders/nf4.wgsl must match it bit for bit.
//
// Layout (what bitsandbytes stores, what a `<name>.nf4` / `<name>.absmax` safetensors pair holds):
//   W [out, in] f32 is flattened row-major into n = out·in values; block b holds elements
//   [64b, 64b + 64) (the last block may be partial); blocks = ceil(n / 64).
//   absmax [blocks] f32 = max |w| over the block's elements.
//   bytes [ceil(n / 2)] uint8: byte i holds element 2i in its HIGH nibble and element 2i+1 in its
//   LOW nibble. For odd n the last low nibble encodes the value 0 (bitsandbytes pads the block
//   with zeros when it loads it), i.e. code 7, or code 0 in an all-zero block.
//   On the GPU the same bytes sit in u32 words [ceil(n / 8)], little-endian: byte i is bits
//   8·(i mod 4) .. 8·(i mod 4)+7 of word ⌊i/4⌋; bytes past ceil(n/2) in the last word are 0.
//   So Uint8Array(words.buffer) on a little-endian host is the bitsandbytes byte stream.
//
// The rules, as the CUDA kernel applies them, in f32 arithmetic:
//   r = fl(1 / absmax)  (correctly rounded reciprocal), x = fl(w · r)  (not w / absmax, and not
//   clamped: |x| exceeds 1 by at most an ulp, which the extreme codes absorb anyway);
//   code(x) = #{ j : x > T_j }, T_j = fl((c_j + c_{j+1}) / 2) the f32 midpoints of adjacent codes
//   (bitsandbytes' decision-tree literals). A value exactly at a midpoint goes to the LOWER index;
//   where the true midpoint is not an f32 (9 of the 15), the cut sits at its f32 rounding T_j; for
//   6 of them that rounding is upward, so x = T_j, a hair nearer the upper code, takes the lower one.
//   Dequantization: w' = fl(c_q · absmax).
//   All-zero block: absmax = 0, so r = +Inf and x = 0 · Inf = NaN, every comparison fails and
//   every code is 0 (the value −1.0); it dequantizes to −1 · 0 = −0.0 (exact, with sign).
//
// Double quantization (QLoRA's default; block of 256 absmax values, the last may be partial):
//   mean = fl(Σ absmax / blocks) — summed in f32 in a fixed order: sequentially within each
//   chunk of 256, then sequentially over the chunk sums; torch's absmax.mean() reduces in another
//   order, so `mean` may differ from bitsandbytes' offset in the last bits (everything downstream
//   of the mean is bit-exact). v_b = fl(absmax_b − mean); scale_k = max |v| over chunk k;
//   code8_b = dQuantize(fl(v_b · fl(1 / scale_k))) (bitsandbytes' binary search over the 256-value
//   signed dynamic map, see quantizeDynamic); scale 0 → codes 0. Reconstruction:
//   absmax'_b = fl(fl(map[code8_b] · scale_k) + mean) (two roundings, as the two torch ops).
//   Memory: 4 + 32/64 = 4.5 bits per weight without, 4 + 8/64 + 32/(64·256) ≈ 4.127 with.
//
// Contract: finite inputs whose nonzero block absmax values lie in [2^-100, 2^100]. Subnormal,
// infinite or NaN weights are outside it (GPUs may flush subnormals; WGSL leaves NaN unspecified).

export const NF4_BLOCK = 64;
export const DOUBLE_QUANT_BLOCK = 256;

/** The 16 NF4 values (bitsandbytes' nf4 lookup table), as f32, ascending. */
export const NF4_CODE: Float32Array = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** T_j = f32((c_j + c_{j+1}) / 2): exactly the literals of bitsandbytes' dQuantizeNF4 tree. */
export const NF4_THRESHOLDS: Float32Array = Float32Array.from({ length: 15 }, (_, j) => (NF4_CODE[j]! + NF4_CODE[j + 1]!) / 2);

/** NF4 code of a normalised value x = w · fl(1/absmax); NaN → 0 (as the CUDA tree). */
export function quantizeNf4Value(x: number): number {
  let q = 0;
  for (let j = 0; j < 15; j++) if (x > NF4_THRESHOLDS[j]!) q++;
  return q;
}

/**
 * bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for
 * i = 0..6, the 2^i midpoints of torch.linspace(0.1, 1, 2^i + 1) (f32), scaled by ±f32(10^(i−6)),
 * plus 0 and 1, sorted: 256 values from −0.99297 to 1.
 * torch's CPU linspace is reproduced as x86-64 builds run it (AVX2, 8-wide vectors, elements in
 * chunks of 16 from the vector path and the rest from the scalar path, both with a fused
 * multiply-add on `start + step·idx`); checked against torch's output value by value in the test.
 * Other vector widths give some boundaries 1 ulp apart, so bitsandbytes' own map is not quite
 * machine-independent.
 */
export function dynamicMap(): Float32Array {
  const data: number[] = [];
  const powers = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1];
  for (let i = 0; i < 7; i++) {
    const b = torchLinspaceF32(0.1, 1, 2 ** i + 1);
    const means: number[] = [];
    for (let j = 0; j + 1 < b.length; j++) means.push(Math.fround(Math.fround(b[j]! + b[j + 1]!) / 2));
    const s = Math.fround(powers[i]!);
    for (const m of means) data.push(Math.fround(s * m));
    for (const m of means) data.push(Math.fround(-s * m));
  }
  data.push(0, 1);
  data.sort((a, b) => a - b);
  return Float32Array.from(data);
}

/** torch.linspace(start, end, steps, dtype=float32) on x86-64 CPU (see dynamicMap). */
function torchLinspaceF32(startValue: number, endValue: number, steps: number): number[] {
  const f = Math.fround;
  const start = f(startValue);
  const end = f(endValue);
  const step = f(f(end - start) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  // `start + step * idx` fused (one rounding): the products are exact in double, so one fround.
  const at = (idx: number) => (idx < halfway ? f(start + step * idx) : f(end - step * (steps - idx - 1)));
  const VEC = 8;
  const out: number[] = [];
  let idx = 0;
  const vectorEnd = Math.floor(steps / (2 * VEC)) * 2 * VEC;
  while (idx < vectorEnd) {
    const base = at(idx); // Vectorized::arange(base, step): base + k·step, product rounded first
    for (let k = 0; k < VEC; k++) out.push(f(base + f(k * step)));
    idx += VEC;
  }
  for (; idx < steps; idx++) out.push(at(idx));
  return out;
}

let dynamicMapCache: Float32Array | undefined;
function cachedDynamicMap(): Float32Array {
  dynamicMapCache ??= dynamicMap();
  return dynamicMapCache;
}

/** bitsandbytes' dQuantize<STOCHASTIC=0>: binary search over a sorted 256-value code, then the nearer neighbour by f32 midpoints. */
export function quantizeDynamic(code: Float32Array, x: number): number {
  const f = Math.fround;
  let pivot = 127;
  let upperPivot = 255;
  let lowerPivot = 0;
  let lower = -1;
  let upper = 1;
  let val = code[pivot]!;
  for (let i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lowerPivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upperPivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[pivot]!;
  }
  if (upperPivot === 255) upper = code[upperPivot]!;
  if (lowerPivot === 0) lower = code[lowerPivot]!;
  if (x > val) return x > f(f(upper + val) * 0.5) ? upperPivot : pivot;
  return x < f(f(lower + val) * 0.5) ? lowerPivot : pivot;
}

export interface Nf4DoubleQuantData {
  /** [blocks] uint8: dynamic-map codes of absmax − mean. */
  readonly codes8: Uint8Array;
  /** [ceil(blocks / 256)] f32: max |absmax − mean| per chunk of 256 blocks. */
  readonly scales: Float32Array;
  readonly mean: number;
}

export interface Nf4Data {
  /** Element count of the flattened weight. */
  readonly n: number;
  /** [ceil(n / 2)] uint8, first element of each pair in the high nibble. */
  readonly bytes: Uint8Array;
  /** [ceil(n / 64)] f32: the exact block absmax the codes were computed with. */
  readonly absmax: Float32Array;
  /** Present with double quantization; dequantization then uses the reconstructed absmax. */
  readonly double?: Nf4DoubleQuantData;
}

export interface Nf4QuantizeOptions {
  readonly doubleQuant?: boolean;
}

export function nf4Blocks(n: number): number {
  return Math.ceil(n / NF4_BLOCK);
}

/** Quantizes w (any shape, flattened row-major) to NF4. */
export function quantizeNf4Ref(w: ArrayLike<number>, options: Nf4QuantizeOptions = {}): Nf4Data {
  const f = Math.fround;
  const n = w.length;
  const blocks = nf4Blocks(n);
  const absmax = new Float32Array(blocks);
  const bytes = new Uint8Array(Math.ceil(n / 2));
  const codes = new Uint8Array(2 * bytes.length); // one per element, plus the odd-n pad
  for (let b = 0; b < blocks; b++) {
    const begin = b * NF4_BLOCK;
    const end = Math.min(begin + NF4_BLOCK, n);
    let m = 0;
    for (let e = begin; e < end; e++) m = Math.max(m, Math.abs(f(w[e]!)));
    absmax[b] = m;
    const r = f(1 / m); // +Inf for an all-zero block: every x is NaN and every code 0
    const padEnd = Math.min(begin + NF4_BLOCK, codes.length);
    for (let e = begin; e < padEnd; e++) codes[e] = quantizeNf4Value(f((e < n ? f(w[e]!) : 0) * r));
  }
  for (let i = 0; i < bytes.length; i++) bytes[i] = (codes[2 * i]! << 4) | codes[2 * i + 1]!;
  const data: Nf4Data = { n, bytes, absmax };
  return options.doubleQuant ? { ...data, double: doubleQuantizeRef(absmax) } : data;
}

/** mean of the absmax values in the fixed f32 order shared with the GPU (see the header). */
export function absmaxMeanRef(absmax: ArrayLike<number>): number {
  const f = Math.fround;
  let total = 0;
  for (let c = 0; c < absmax.length; c += DOUBLE_QUANT_BLOCK) {
    let s = 0;
    for (let j = c; j < Math.min(c + DOUBLE_QUANT_BLOCK, absmax.length); j++) s = f(s + absmax[j]!);
    total = f(total + s);
  }
  return absmax.length === 0 ? 0 : f(total / absmax.length);
}

/** The double-quantization stage on its own: absmax [blocks] → codes8, scales, mean. */
export function doubleQuantizeRef(absmax: ArrayLike<number>): Nf4DoubleQuantData {
  const f = Math.fround;
  const code = cachedDynamicMap();
  const blocks = absmax.length;
  const mean = absmaxMeanRef(absmax);
  const chunks = Math.ceil(blocks / DOUBLE_QUANT_BLOCK);
  const codes8 = new Uint8Array(blocks);
  const scales = new Float32Array(chunks);
  for (let k = 0; k < chunks; k++) {
    const begin = k * DOUBLE_QUANT_BLOCK;
    const end = Math.min(begin + DOUBLE_QUANT_BLOCK, blocks);
    let m = 0;
    for (let b = begin; b < end; b++) m = Math.max(m, Math.abs(f(absmax[b]! - mean)));
    scales[k] = m;
    const r = f(1 / m);
    for (let b = begin; b < end; b++) codes8[b] = m === 0 ? 0 : quantizeDynamic(code, f(f(absmax[b]! - mean) * r));
  }
  return { codes8, scales, mean };
}

/** The absmax values dequantization uses: the stored ones, or the double-quantized reconstruction. */
export function nf4AbsmaxRef(q: Nf4Data): Float32Array {
  if (!q.double) return q.absmax;
  const f = Math.fround;
  const code = cachedDynamicMap();
  const { codes8, scales, mean } = q.double;
  return Float32Array.from(codes8, (c, b) => f(f(code[c]! * scales[Math.floor(b / DOUBLE_QUANT_BLOCK)]!) + mean));
}

/** The NF4 code (0..15) of element e. */
export function nf4CodeAt(bytes: Uint8Array, e: number): number {
  const byte = bytes[e >> 1]!;
  return e % 2 === 0 ? byte >> 4 : byte & 15;
}

/** Dequantizes to f32 [n] (reshape to [out, in] as the caller knows it). */
export function dequantizeNf4Ref(q: Nf4Data): Float32Array {
  const absmax = nf4AbsmaxRef(q);
  const out = new Float32Array(q.n);
  for (let e = 0; e < q.n; e++) out[e] = Math.fround(NF4_CODE[nf4CodeAt(q.bytes, e)]! * absmax[Math.floor(e / NF4_BLOCK)]!);
  return out;
}

/** bitsandbytes' byte stream → the GPU's u32 words [ceil(n/8)] (little-endian, zero-padded). */
export function nf4BytesToWords(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(bytes.length / 4));
  for (let i = 0; i < bytes.length; i++) words[i >> 2] = (words[i >> 2]! | (bytes[i]! << (8 * (i & 3)))) >>> 0;
  return words;
}

/** The GPU's u32 words → bitsandbytes' byte stream of an n-element weight. */
export function nf4WordsToBytes(words: Uint32Array, n: number): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(n / 2));
  for (let i = 0; i < bytes.length; i++) bytes[i] = (words[i >> 2]! >>> (8 * (i & 3))) & 0xff;
  return bytes;
}

/** uint8 codes [count] → u32 words [ceil(count/4)], little-endian (the GPU layout of codes8). */
export function packBytesLE(bytes: Uint8Array): Uint32Array {
  return nf4BytesToWords(bytes);
}

/** Stored bytes per weight-tensor as bitsandbytes keeps them (tables shared, not counted). */
export function nf4StorageBytes(n: number, doubleQuant: boolean): number {
  const blocks = nf4Blocks(n);
  const packed = Math.ceil(n / 2);
  if (!doubleQuant) return packed + 4 * blocks;
  return packed + blocks + 4 * Math.ceil(blocks / DOUBLE_QUANT_BLOCK) + 4;
}

/** Bits per weight of that storage: 4.5 without double quantization, ≈ 4.127 with. */
export function nf4BitsPerWeight(n: number, doubleQuant: boolean): number {
  return (8 * nf4StorageBytes(n, doubleQuant)) / n;
}
