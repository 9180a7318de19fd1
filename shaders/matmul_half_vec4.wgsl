// Batched matrix product with B a packed 16-bit tensor (frozen bf16/f16 weights): the vec4
// register-tiled variant of matmul_half.wgsl, the same kernel as matmul_vec4.wgsl with B's loads
// unpacked:
//   C[b] = alpha · op(A[b]) · op(B[b]) (+ bias) (+ beta · C[b])
//   op(A) [M, K] f32: A stored [M, K], or [K, M] when TRANS_A; op(B) [K, N]: B stored [K, N], or
//   [N, K] when TRANS_B; C [M, N] f32; bias [N] f32.
// B packed (B_FORMAT 1 bf16, 2 f16): element 2i in bits 0..15 and 2i+1 in bits 16..31 of word i,
// elements indexed globally (row-major). With K % 4 == 0 and N % 4 == 0 (required, as in
// matmul_vec4.wgsl; and M % 4 == 0 with TRANS_A) four consecutive elements along a row of B are
// one aligned vec2<u32>, so b is read as array<vec2<u32>> at the same index the f32 kernel uses
// for its vec4<f32>. bf16 → f32 is a 16-bit shift (exact); f16 → f32 is unpack2x16float (exact),
// or a vec2<f16> read with shader-f16 (kernels/matmul.ts swaps f16_pair; same values).

struct Params { M: u32, N: u32, K: u32, strideA: u32, strideB: u32, strideC: u32, alpha: f32, beta: f32 }

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override B_FORMAT: u32 = 1u;

const FORMAT_BF16: u32 = 1u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> c: array<vec4<f32>>;

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

@compute @workgroup_size(8, 8, 1)
fn matmul_half_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * 8u;
  let col4 = gid.x; // column block: columns 4·col4 .. 4·col4+3
  let N4 = params.N / 4u;
  let K4 = params.K / 4u;
  let M4 = params.M / 4u;
  if (row0 >= params.M || col4 >= N4) { return; }
  let base_a = gid.z * params.strideA / 4u;
  let base_b = gid.z * params.strideB / 4u;
  let last_m = params.M - 1u;
  // Rows past the edge re-read the last row; their results are not stored.
  let m_lo = vec4<u32>(row0, min(row0 + 1u, last_m), min(row0 + 2u, last_m), min(row0 + 3u, last_m));
  let m_hi = vec4<u32>(min(row0 + 4u, last_m), min(row0 + 5u, last_m), min(row0 + 6u, last_m), min(row0 + 7u, last_m));
  let mc_lo = min(row0, last_m) / 4u;
  let mc_hi = min(row0 + 4u, last_m) / 4u;
  let n0 = col4 * 4u;

  var acc_lo = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  var acc_hi = acc_lo;
  for (var kc = 0u; kc < K4; kc++) {
    let k0 = kc * 4u;
    // b_cols: column kk = row k0+kk of op(B) restricted to columns n0..n0+3.
    var b_cols: mat4x4<f32>;
    if (TRANS_B) {
      b_cols = transpose(mat4x4<f32>(
        fetch_b(base_b + n0 * K4 + kc), fetch_b(base_b + (n0 + 1u) * K4 + kc),
        fetch_b(base_b + (n0 + 2u) * K4 + kc), fetch_b(base_b + (n0 + 3u) * K4 + kc)));
    } else {
      b_cols = mat4x4<f32>(
        fetch_b(base_b + k0 * N4 + col4), fetch_b(base_b + (k0 + 1u) * N4 + col4),
        fetch_b(base_b + (k0 + 2u) * N4 + col4), fetch_b(base_b + (k0 + 3u) * N4 + col4));
    }
    var a_lo: mat4x4<f32>;
    var a_hi: mat4x4<f32>;
    if (TRANS_A) {
      a_lo = transpose(mat4x4<f32>(
        a[base_a + k0 * M4 + mc_lo], a[base_a + (k0 + 1u) * M4 + mc_lo],
        a[base_a + (k0 + 2u) * M4 + mc_lo], a[base_a + (k0 + 3u) * M4 + mc_lo]));
      a_hi = transpose(mat4x4<f32>(
        a[base_a + k0 * M4 + mc_hi], a[base_a + (k0 + 1u) * M4 + mc_hi],
        a[base_a + (k0 + 2u) * M4 + mc_hi], a[base_a + (k0 + 3u) * M4 + mc_hi]));
    } else {
      a_lo = mat4x4<f32>(
        a[base_a + m_lo.x * K4 + kc], a[base_a + m_lo.y * K4 + kc],
        a[base_a + m_lo.z * K4 + kc], a[base_a + m_lo.w * K4 + kc]);
      a_hi = mat4x4<f32>(
        a[base_a + m_hi.x * K4 + kc], a[base_a + m_hi.y * K4 + kc],
        a[base_a + m_hi.z * K4 + kc], a[base_a + m_hi.w * K4 + kc]);
    }
    acc_lo += b_cols * a_lo;
    acc_hi += b_cols * a_hi;
  }
  let base_c = gid.z * params.strideC / 4u;
  for (var i = 0u; i < 8u; i++) {
    let row = row0 + i;
    if (row >= params.M) { break; }
    var value: vec4<f32>;
    if (i < 4u) { value = acc_lo[i]; } else { value = acc_hi[i - 4u]; }
    value *= params.alpha;
    if (HAS_BIAS) { value += bias[col4]; }
    let index = base_c + row * N4 + col4;
    if (params.beta != 0.0) { value += params.beta * c[index]; }
    c[index] = value;
  }
}
