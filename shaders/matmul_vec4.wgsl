// Batched matrix product, vec4 register-tiled variant of matmul.wgsl (same math and parameters):
//   C[b] = alpha · op(A[b]) · op(B[b]) (+ bias) (+ beta · C[b])
//   op(A) [M, K]: A stored [M, K], or [K, M] when TRANS_A; op(B) [K, N]: B stored [K, N], or
//   [N, K] when TRANS_B; C [M, N]; bias [N].
// Requires K % 4 == 0, N % 4 == 0 and, with TRANS_A, M % 4 == 0 (so every vec4 below is aligned);
// the wrapper falls back to matmul.wgsl otherwise. Strides are in f32 elements (multiples of 4).
//
// Each invocation owns an 8×4 block of C and walks K four at a time: it loads a 4×4 block of B and
// two 4×4 blocks of A as vec4s (along whichever axis is contiguous) and multiplies them as
// mat4x4, so 12 vector loads feed 128 FMAs. No workgroup memory, no barriers: this is the
// SwiftShader kernel (8×8 invocations cover 64 rows × 32 columns).
//
// B is read only through fetch_b(i): its i-th vec4 (four consecutive elements along a row of B,
// batch offset included). The block between the <operand loads> markers reads an f32 B;
// kernels/matmul.ts makes the packed 16-bit variant (B a frozen bf16/f16 weight) by splicing
// matmul_vec4_half_loads.wgsl in its place, so both share every other line. A is always f32.

struct Params { M: u32, N: u32, K: u32, strideA: u32, strideB: u32, strideC: u32, alpha: f32, beta: f32 }

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
// <operand loads>
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;

fn fetch_b(i: u32) -> vec4<f32> { return b[i]; }
// </operand loads>
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> c: array<vec4<f32>>;

@compute @workgroup_size(8, 8, 1)
fn matmul_vec4(@builtin(global_invocation_id) gid: vec3<u32>) {
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

  // acc_lo[i] / acc_hi[i] hold rows row0+i / row0+4+i of the 8×4 block, each a vec4 over columns.
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
    // a_*: column i = row m_i of op(A) restricted to k0..k0+3.
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
    // Row i of the block: Σ_kk op(A)[m_i, k0+kk] · op(B)[k0+kk, n0..n0+3] = b_cols · a[i].
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
