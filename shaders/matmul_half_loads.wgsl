// Packed 16-bit operand loads for matmul.wgsl: kernels/matmul.ts splices this in place of its
// <operand loads> block to make the matmul_half shader (same kernels, entry points matmul_half_*),
// where either operand may be a packed tensor (frozen bf16/f16 weights; dx = dy W reads W [out, in]
// untransposed as B, DoRA's norms read W as A).
// Operand storage (A_FORMAT, B_FORMAT): 0 f32, 1 bf16, 2 f16. Both are bound as array<u32>:
//   f32:  element e is word e (bitcast, free).
//   bf16/f16 packed: element e is the 16-bit half (e & 1) of word e >> 1 (element 2i in bits
//   0..15, 2i+1 in bits 16..31: the safetensors bytes read as little-endian u32). Elements are
//   indexed globally (row-major over the whole operand), so rows of odd length start mid-word.
//   bf16 → f32 is exact: the bf16 bits are the upper half of the f32 (shift left by 16).
//   f16 → f32 is exact: unpack2x16float (core WGSL, no shader-f16 needed). Where the device has
//   shader-f16, kernels/matmul.ts compiles the shader with `enable f16;` and f16_pair below reading
//   the word as vec2<f16> instead (the same values; see F16_PAIR in the wrapper).
// The tiled kernel stages these loads already converted to f32 in workgroup memory.

override A_FORMAT: u32 = 0u;
override B_FORMAT: u32 = 0u;

const FORMAT_F32: u32 = 0u;
const FORMAT_BF16: u32 = 1u;

@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;

// The two f16 values of a word, low half first.
fn f16_pair(w: u32) -> vec2<f32> {
  return unpack2x16float(w);
}

// The 16-bit element in the low bits of `bits` (upper bits zero) as f32.
fn decode_half(format: u32, bits: u32) -> f32 {
  if (format == FORMAT_BF16) { return bitcast<f32>(bits << 16u); }
  return f16_pair(bits).x;
}

fn fetch_a(e: u32) -> f32 {
  if (A_FORMAT == FORMAT_F32) { return bitcast<f32>(a[e]); }
  return decode_half(A_FORMAT, (a[e >> 1u] >> ((e & 1u) << 4u)) & 0xffffu);
}

fn fetch_b(e: u32) -> f32 {
  if (B_FORMAT == FORMAT_F32) { return bitcast<f32>(b[e]); }
  return decode_half(B_FORMAT, (b[e >> 1u] >> ((e & 1u) << 4u)) & 0xffffu);
}
