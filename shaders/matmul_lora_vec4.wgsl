// The vec4 register-tiled variant of matmul_lora.wgsl (same math and parameters):
//   main: C = alpha · A · op(B) + s · P · op(Q) (+ bias) (+ beta · C)
//   side: D = sAlpha · Eᵀ · F (+ sBeta · D)
// Requires K, N and R divisible by 4, and for the side product SM and SN (so every vec4 below is
// aligned and every binding a whole number of vec4s); the wrapper takes matmul_lora.wgsl otherwise.
//
// Main: each invocation owns an 8×4 block of C and walks K four at a time as matmul_vec4.wgsl does
// (a 4×4 block of op(B) and two of A as mat4x4: 12 vector loads feed 128 FMAs; no workgroup
// memory, no barriers: the SwiftShader kernel), then R four at a time the same way over P and
// op(Q) into a second accumulator, so C = alpha·acc + s·low is written once. 8×8 invocations
// cover 64 rows × 32 columns.
// Side: each invocation owns an 8×4 block of D and walks the SK rows of E and F, whose 8 and 4
// entries in the block are contiguous (3 vector loads for 32 FMAs). 8×8 invocations cover 64 rows
// × 32 columns of D.
// B is read only through fetch_b(i), its i-th vec4 along a row of B; kernels/matmulLora.ts splices
// matmul_vec4_half_loads.wgsl in place of the <operand loads> block for a packed 16-bit B.

struct Params {
  M: u32, N: u32, K: u32, R: u32, alpha: f32, beta: f32, s: f32, mainTilesX: u32,
  mainTiles: u32, SM: u32, SN: u32, SK: u32, sAlpha: f32, sBeta: f32, sideTilesX: u32, tiles: u32
}

override TRANS_B: bool = false;
override TRANS_Q: bool = false;
override HAS_BIAS: bool = false;
override SIDE_E_IS_P: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;          // [M, K]
// <operand loads>
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;

fn fetch_b(i: u32) -> vec4<f32> { return b[i]; }
// </operand loads>
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;       // [N]
@group(0) @binding(4) var<storage, read_write> c: array<vec4<f32>>;    // [M, N]
@group(0) @binding(5) var<storage, read> p: array<vec4<f32>>;          // [M, R]
@group(0) @binding(6) var<storage, read> q: array<vec4<f32>>;          // [R, N] or [N, R]
@group(0) @binding(7) var<storage, read> f: array<vec4<f32>>;          // [SK, SN]
@group(0) @binding(8) var<storage, read_write> d: array<vec4<f32>>;    // [SM, SN]

/** The i-th vec4 of the side product's E. */
fn side_e(i: u32) -> vec4<f32> {
  if (SIDE_E_IS_P) { return p[i]; }
  return a[i];
}

@compute @workgroup_size(8, 8, 1)
fn matmul_lora_vec4(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let t = wid.y * groups.x + wid.x;
  if (t >= params.tiles) { return; }
  if (t >= params.mainTiles) {
    side_product(t - params.mainTiles, lid.x, lid.y);
    return;
  }
  let row0 = ((t / params.mainTilesX) * 8u + lid.y) * 8u;
  let col4 = (t % params.mainTilesX) * 8u + lid.x; // columns 4·col4 .. 4·col4+3
  let N4 = params.N / 4u;
  let K4 = params.K / 4u;
  if (row0 >= params.M || col4 >= N4) { return; }
  let last_m = params.M - 1u;
  // Rows past the edge re-read the last row; their results are not stored.
  let m_lo = vec4<u32>(row0, min(row0 + 1u, last_m), min(row0 + 2u, last_m), min(row0 + 3u, last_m));
  let m_hi = vec4<u32>(min(row0 + 4u, last_m), min(row0 + 5u, last_m), min(row0 + 6u, last_m), min(row0 + 7u, last_m));
  let n0 = col4 * 4u;

  // acc_lo[i] / acc_hi[i]: rows row0+i / row0+4+i of the 8×4 block, each a vec4 over columns.
  var acc_lo = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  var acc_hi = acc_lo;
  for (var kc = 0u; kc < K4; kc++) {
    let k0 = kc * 4u;
    // b_cols: column kk = row k0+kk of op(B) restricted to columns n0..n0+3.
    var b_cols: mat4x4<f32>;
    if (TRANS_B) {
      b_cols = transpose(mat4x4<f32>(
        fetch_b(n0 * K4 + kc), fetch_b((n0 + 1u) * K4 + kc),
        fetch_b((n0 + 2u) * K4 + kc), fetch_b((n0 + 3u) * K4 + kc)));
    } else {
      b_cols = mat4x4<f32>(
        fetch_b(k0 * N4 + col4), fetch_b((k0 + 1u) * N4 + col4),
        fetch_b((k0 + 2u) * N4 + col4), fetch_b((k0 + 3u) * N4 + col4));
    }
    // a_*: column i = row m_i of A restricted to k0..k0+3.
    let a_lo = mat4x4<f32>(a[m_lo.x * K4 + kc], a[m_lo.y * K4 + kc], a[m_lo.z * K4 + kc], a[m_lo.w * K4 + kc]);
    let a_hi = mat4x4<f32>(a[m_hi.x * K4 + kc], a[m_hi.y * K4 + kc], a[m_hi.z * K4 + kc], a[m_hi.w * K4 + kc]);
    acc_lo += b_cols * a_lo;
    acc_hi += b_cols * a_hi;
  }
  // The same over R: low += op(Q) rows j0..j0+3 · P columns j0..j0+3.
  let R4 = params.R / 4u;
  var low_lo = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  var low_hi = low_lo;
  for (var jc = 0u; jc < R4; jc++) {
    let j0 = jc * 4u;
    var q_cols: mat4x4<f32>;
    if (TRANS_Q) {
      q_cols = transpose(mat4x4<f32>(q[n0 * R4 + jc], q[(n0 + 1u) * R4 + jc], q[(n0 + 2u) * R4 + jc], q[(n0 + 3u) * R4 + jc]));
    } else {
      q_cols = mat4x4<f32>(q[j0 * N4 + col4], q[(j0 + 1u) * N4 + col4], q[(j0 + 2u) * N4 + col4], q[(j0 + 3u) * N4 + col4]);
    }
    let p_lo = mat4x4<f32>(p[m_lo.x * R4 + jc], p[m_lo.y * R4 + jc], p[m_lo.z * R4 + jc], p[m_lo.w * R4 + jc]);
    let p_hi = mat4x4<f32>(p[m_hi.x * R4 + jc], p[m_hi.y * R4 + jc], p[m_hi.z * R4 + jc], p[m_hi.w * R4 + jc]);
    low_lo += q_cols * p_lo;
    low_hi += q_cols * p_hi;
  }
  acc_lo = acc_lo * params.alpha + low_lo * params.s;
  acc_hi = acc_hi * params.alpha + low_hi * params.s;
  for (var i = 0u; i < 8u; i++) {
    let row = row0 + i;
    if (row >= params.M) { break; }
    var value: vec4<f32>;
    if (i < 4u) { value = acc_lo[i]; } else { value = acc_hi[i - 4u]; }
    if (HAS_BIAS) { value += bias[col4]; }
    let index = row * N4 + col4;
    if (params.beta != 0.0) { value += params.beta * c[index]; }
    c[index] = value;
  }
}

fn side_product(tile: u32, lx: u32, ly: u32) {
  let row0 = ((tile / params.sideTilesX) * 8u + ly) * 8u;
  let col4 = (tile % params.sideTilesX) * 8u + lx; // columns 4·col4 .. 4·col4+3
  let SM4 = params.SM / 4u;
  let SN4 = params.SN / 4u;
  if (row0 >= params.SM || col4 >= SN4) { return; }
  // Rows past the edge (SM is a multiple of 4, so only the upper 4 can be) re-read the last block.
  let mc_lo = row0 / 4u;
  let mc_hi = min(row0 + 4u, params.SM - 4u) / 4u;
  var acc_lo = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  var acc_hi = acc_lo;
  for (var k = 0u; k < params.SK; k++) {
    let fv = f[k * SN4 + col4];
    let e_lo = side_e(k * SM4 + mc_lo);
    let e_hi = side_e(k * SM4 + mc_hi);
    acc_lo += mat4x4<f32>(fv * e_lo.x, fv * e_lo.y, fv * e_lo.z, fv * e_lo.w);
    acc_hi += mat4x4<f32>(fv * e_hi.x, fv * e_hi.y, fv * e_hi.z, fv * e_hi.w);
  }
  for (var i = 0u; i < 8u; i++) {
    let row = row0 + i;
    if (row >= params.SM) { break; }
    var value: vec4<f32>;
    if (i < 4u) { value = acc_lo[i]; } else { value = acc_hi[i - 4u]; }
    value *= params.sAlpha;
    let index = row * SN4 + col4;
    if (params.sBeta != 0.0) { value += params.sBeta * d[index]; }
    d[index] = value;
  }
}
