// Bit-exact conversions between f32 and the two 16-bit float formats found in model files.
// f16 (IEEE binary16): 1 sign, 5 exponent (bias 15), 10 mantissa bits, with subnormals.
// bf16: the upper 16 bits of an f32 (1 sign, 8 exponent, 7 mantissa bits).
// Decoding to f32 is exact for every bit pattern (both formats are subsets of f32). Encoding
// rounds to nearest, ties to even, overflows to ±Inf and keeps NaN a (quiet) NaN with its sign.

import { InternalError } from '../errors';

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The 32 bits of `x` rounded to f32. */
export function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0]!;
}

/** The f32 whose bits are `bits` (taken as an unsigned 32-bit integer). */
export function f32FromBits(bits: number): number {
  u32Scratch[0] = bits >>> 0;
  return f32Scratch[0]!;
}

/** f16 bits (0..0xffff) to the exact f32 bit pattern. */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf, NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // 127 - 15 = 112
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal: mant · 2^-24. Normalise: shift until the implicit bit (0x400) appears.
  let e = 113; // exponent field of 2^-14, the f16 subnormal scale, before shifting
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

export function f16BitsToF32(h: number): number {
  return f32FromBits(f16BitsToF32Bits(h));
}

/** bf16 bits to f32: the bf16 is the upper half of the f32. */
export function bf16BitsToF32(b: number): number {
  return f32FromBits((b & 0xffff) << 16);
}

/** Rounds `x` to f32, then to bf16 (nearest, ties to even); returns the 16 bits. */
export function f32ToBf16Bits(x: number): number {
  const bits = f32Bits(x);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) {
    return ((bits >>> 16) | 0x0040) & 0xffff; // NaN: set the quiet bit so truncation cannot make Inf
  }
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff; // carry may round up into the exponent (to Inf): correct
}

/** Rounds `x` to f32, then to f16 (nearest, ties to even, subnormals kept); returns the 16 bits. */
export function f32ToF16Bits(x: number): number {
  const bits = f32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // f16 exponent field if the value is normal in f16
  if (e >= 0x1f) return sign | 0x7c00; // ≥ 2^16: beyond the largest finite f16 (65504) after rounding
  if (e <= 0) {
    // Subnormal (or zero) in f16: value = (1.mant) · 2^(e-15) = mant24 · 2^(e-38), unit 2^-24.
    if (e < -10) return sign; // below 2^-25, half the smallest subnormal: rounds to ±0
    mant |= 0x800000;
    const shift = 14 - e; // 14..24
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half++; // may become 0x400: smallest normal
    return sign | half;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // carry into exponent; 0x7bff + 1 = Inf
  return sign | h;
}

let f16Table: Float32Array | undefined;

/** All 65536 f16 values as f32 (256 KiB, built on first use): decoding is then one lookup. */
export function f16DecodeTable(): Float32Array {
  if (!f16Table) {
    const table = new Float32Array(65536);
    const bitsView = new Uint32Array(table.buffer);
    for (let h = 0; h < 65536; h++) bitsView[h] = f16BitsToF32Bits(h);
    f16Table = table;
  }
  return f16Table;
}

export function encodeF16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]!);
  return out;
}

export function encodeBf16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToBf16Bits(values[i]!);
  return out;
}

export function decodeF16(bits: ArrayLike<number>): Float32Array {
  const table = f16DecodeTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]! & 0xffff]!;
  return out;
}

export function decodeBf16(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = (bits[i]! & 0xffff) << 16;
  return out;
}

/** The 16-bit float formats of packed frozen weights. */
export type HalfFloatFormat = 'bf16' | 'f16';

/**
 * A 16-bit stream (little-endian, 2 bytes per element, as safetensors stores F16/BF16) as the
 * packed GPU layout: two elements per little-endian u32 word, element 2i in the low half. Those
 * are the same bytes; only an odd element count needs padding (one zero half) to a whole word.
 */
export function packedHalfBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength % 2 !== 0) throw new InternalError(`a 16-bit stream has an even byte count, not ${bytes.byteLength}`);
  if (bytes.byteLength % 4 === 0) return bytes;
  const padded = new Uint8Array(bytes.byteLength + 2);
  padded.set(bytes);
  return padded;
}

/** 16-bit values of `format` (host order, e.g. a Uint16Array over packed bytes) decoded to f32. */
export function decodeHalf(bits: ArrayLike<number>, format: HalfFloatFormat): Float32Array {
  return format === 'bf16' ? decodeBf16(bits) : decodeF16(bits);
}
