// Packed 16-bit loads of B for matmul_vec4.wgsl: kernels/matmul.ts splices this in place of its
// <operand loads> block to make the matmul_half_vec4 shader (same kernel, entry point
// matmul_half_vec4), where B is a packed tensor (frozen bf16/f16 weight; A stays f32).
// B packed (B_FORMAT 1 bf16, 2 f16): element 2i in bits 0..15 and 2i+1 in bits 16..31 of word i,
// elements indexed globally (row-major). With K % 4 == 0 and N % 4 == 0 (required, as in
// matmul_vec4.wgsl; and M % 4 == 0 with TRANS_A) four consecutive elements along a row of B are
// one aligned vec2<u32>, so b is read as array<vec2<u32>> at the same index the f32 kernel uses
// for its vec4<f32>. bf16 → f32 is a 16-bit shift (exact); f16 → f32 is unpack2x16float (exact),
// or a vec2<f16> read with shader-f16 (kernels/matmul.ts swaps f16_pair; same values).

override B_FORMAT: u32 = 1u;

const FORMAT_BF16: u32 = 1u;

@group(0) @binding(2) var<storage, read> b: array<vec2<u32>>;

// The two f16 values of a word, low half first.
fn f16_pair(w: u32) -> vec2<f32> {
  return unpack2x16float(w);
}

// Four consecutive packed elements (two words) as f32, in element order.
fn fetch_b(i: u32) -> vec4<f32> {
  let w = b[i];
  if (B_FORMAT == FORMAT_BF16) {
    return bitcast<vec4<f32>>(vec4<u32>(w.x << 16u, w.x & 0xffff0000u, w.y << 16u, w.y & 0xffff0000u));
  }
  return vec4<f32>(f16_pair(w.x), f16_pair(w.y));
}
