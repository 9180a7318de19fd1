// A matrix product with a low-rank term in its epilogue, and a weight-gradient product run by
// the same dispatch (the kernels of a LoRA layer, tensor/ops/loraLinear.ts):
//   main: C = alpha · A · op(B) + s · P · op(Q) (+ bias) (+ beta · C)
//         A [M, K] row-major; op(B) [K, N]: B stored [K, N], or [N, K] when TRANS_B (W [out, in]);
//         P [M, R]; op(Q) [R, N]: Q stored [R, N], or [N, R] when TRANS_Q; C [M, N]; bias [N].
//         K = 0 leaves the low-rank term alone, R = 0 the product alone.
//   side: D = sAlpha · Eᵀ · F (+ sBeta · D), with E [SK, SM] the main A (or P when SIDE_E_IS_P),
//         F [SK, SN], D [SM, SN]: a weight gradient (Gᵀ h, dhᵀ x) that reads an operand the
//         main product reads too.
// The low-rank term extends the inner dimension by R (y = [x, s·h] · [W, B]ᵀ): after the K loop each
// invocation runs R more rank-1 updates of its register block, so C is written once, without
// an [M, N] temporary for s·P·op(Q) or a second pass to add it.
// beta and sBeta are 0 (overwrite: the output is never read) or 1 (accumulate a gradient).
//
// Workgroups: the first mainTiles run the main product (tile (t % mainTilesX, t / mainTilesX)),
// the next ones the side product (sideTilesX wide); t = wid.y · num_workgroups.x + wid.x, and
// workgroups past the last tile return at once.
// Two variants of the main product, same bindings (matmul_lora_vec4.wgsl is the third):
//   matmul_lora_registers: 8×8 invocations, each a 4×4 block of C in registers, no barriers (software).
//   matmul_lora_tiled: 16×16 invocations on a 64×64 block of C through workgroup memory (real GPUs).
// A and B are read only through fetch_a(e) / fetch_b(e) (element e, row-major); kernels/matmulLora.ts
// splices matmul_half_loads.wgsl in place of the <operand loads> block for a packed 16-bit B (a
// frozen bf16/f16 weight), as kernels/matmul.ts does for the plain product. The side product
// (matmul_lora_side.wgsl) is appended by the wrapper.

struct Params {
  M: u32, N: u32, K: u32, R: u32, alpha: f32, beta: f32, s: f32, mainTilesX: u32,
  mainTiles: u32, SM: u32, SN: u32, SK: u32, sAlpha: f32, sBeta: f32, sideTilesX: u32, tiles: u32
}

override TRANS_B: bool = false;
override TRANS_Q: bool = false;
override HAS_BIAS: bool = false;
override SIDE_E_IS_P: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
// <operand loads>
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

fn fetch_a(e: u32) -> f32 { return a[e]; }
fn fetch_b(e: u32) -> f32 { return b[e]; }
// </operand loads>
@group(0) @binding(3) var<storage, read> bias: array<f32>;       // [N]
@group(0) @binding(4) var<storage, read_write> c: array<f32>;    // [M, N]
@group(0) @binding(5) var<storage, read> p: array<f32>;          // [M, R]
@group(0) @binding(6) var<storage, read> q: array<f32>;          // [R, N] or [N, R]
@group(0) @binding(7) var<storage, read> f: array<f32>;          // [SK, SN]
@group(0) @binding(8) var<storage, read_write> d: array<f32>;    // [SM, SN]

fn load_b(k: u32, n: u32) -> f32 {
  if (TRANS_B) { return fetch_b(n * params.K + k); }
  return fetch_b(k * params.N + n);
}

fn load_q(j: u32, n: u32) -> f32 {
  if (TRANS_Q) { return q[n * params.R + j]; }
  return q[j * params.N + n];
}

/** Element e of the side product's E. */
fn side_e(e: u32) -> f32 {
  if (SIDE_E_IS_P) { return p[e]; }
  return fetch_a(e);
}

fn store_c(m: u32, n: u32, value: f32) {
  if (m >= params.M || n >= params.N) { return; }
  var v = value;
  if (HAS_BIAS) { v += bias[n]; }
  let index = m * params.N + n;
  if (params.beta != 0.0) { v += params.beta * c[index]; }
  c[index] = v;
}

@compute @workgroup_size(8, 8, 1)
fn matmul_lora_registers(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let t = wid.y * groups.x + wid.x;
  if (t >= params.tiles) { return; }
  if (t >= params.mainTiles) {
    side_product(t - params.mainTiles, lid.x, lid.y, 8u, 8u);
    return;
  }
  let row0 = ((t / params.mainTilesX) * 8u + lid.y) * 4u;
  let col0 = ((t % params.mainTilesX) * 8u + lid.x) * 4u;
  if (row0 >= params.M || col0 >= params.N) { return; }
  // Rows/columns past the edge re-read the last valid one; store_c drops their results.
  let last_m = params.M - 1u;
  let last_n = params.N - 1u;
  let m = vec4<u32>(row0, min(row0 + 1u, last_m), min(row0 + 2u, last_m), min(row0 + 3u, last_m));
  let n = vec4<u32>(col0, min(col0 + 1u, last_n), min(col0 + 2u, last_n), min(col0 + 3u, last_n));
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  let K = params.K;
  for (var k = 0u; k < K; k++) {
    let av = vec4<f32>(fetch_a(m.x * K + k), fetch_a(m.y * K + k), fetch_a(m.z * K + k), fetch_a(m.w * K + k));
    let bv = vec4<f32>(load_b(k, n.x), load_b(k, n.y), load_b(k, n.z), load_b(k, n.w));
    acc0 = fma(vec4<f32>(av.x), bv, acc0);
    acc1 = fma(vec4<f32>(av.y), bv, acc1);
    acc2 = fma(vec4<f32>(av.z), bv, acc2);
    acc3 = fma(vec4<f32>(av.w), bv, acc3);
  }
  acc0 *= params.alpha;
  acc1 *= params.alpha;
  acc2 *= params.alpha;
  acc3 *= params.alpha;
  let R = params.R;
  for (var j = 0u; j < R; j++) {
    let pv = params.s * vec4<f32>(p[m.x * R + j], p[m.y * R + j], p[m.z * R + j], p[m.w * R + j]);
    let qv = vec4<f32>(load_q(j, n.x), load_q(j, n.y), load_q(j, n.z), load_q(j, n.w));
    acc0 = fma(vec4<f32>(pv.x), qv, acc0);
    acc1 = fma(vec4<f32>(pv.y), qv, acc1);
    acc2 = fma(vec4<f32>(pv.z), qv, acc2);
    acc3 = fma(vec4<f32>(pv.w), qv, acc3);
  }
  let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    for (var jj = 0u; jj < 4u; jj++) {
      store_c(row0 + i, col0 + jj, rows[i][jj]);
    }
  }
}

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [TILE_K][TILE] : tile_a[k * 64 + m]
var<workgroup> tile_b: array<f32, 1024>; // [TILE_K][TILE] : tile_b[k * 64 + n]

@compute @workgroup_size(16, 16, 1)
fn matmul_lora_tiled(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let t = wid.y * groups.x + wid.x;
  if (t >= params.tiles) { return; }
  if (t >= params.mainTiles) {
    side_product(t - params.mainTiles, lid.x, lid.y, 16u, 16u);
    return;
  }
  let tile_row = (t / params.mainTilesX) * TILE;
  let tile_col = (t % params.mainTilesX) * TILE;
  let flat = lid.y * 16u + lid.x;
  var acc: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < params.K; k0 += TILE_K) {
    // 256 invocations stage 1024 values of each operand, 4 each, reading along the contiguous axis.
    for (var r = 0u; r < 4u; r++) {
      let e = flat + 256u * r;
      let m = e / TILE_K;
      let ka = e % TILE_K;
      var va = 0.0;
      if (tile_row + m < params.M && k0 + ka < params.K) { va = fetch_a((tile_row + m) * params.K + k0 + ka); }
      tile_a[ka * TILE + m] = va;

      var n: u32; var kb: u32;
      if (TRANS_B) { n = e / TILE_K; kb = e % TILE_K; } else { kb = e / TILE; n = e % TILE; }
      var vb = 0.0;
      if (tile_col + n < params.N && k0 + kb < params.K) { vb = load_b(k0 + kb, tile_col + n); }
      tile_b[kb * TILE + n] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      let av = vec4<f32>(
        tile_a[kk * TILE + lid.y], tile_a[kk * TILE + lid.y + 16u],
        tile_a[kk * TILE + lid.y + 32u], tile_a[kk * TILE + lid.y + 48u]);
      let bv = vec4<f32>(
        tile_b[kk * TILE + lid.x], tile_b[kk * TILE + lid.x + 16u],
        tile_b[kk * TILE + lid.x + 32u], tile_b[kk * TILE + lid.x + 48u]);
      acc[0] = fma(vec4<f32>(av.x), bv, acc[0]);
      acc[1] = fma(vec4<f32>(av.y), bv, acc[1]);
      acc[2] = fma(vec4<f32>(av.z), bv, acc[2]);
      acc[3] = fma(vec4<f32>(av.w), bv, acc[3]);
    }
    workgroupBarrier();
  }
  // This invocation owns rows tile_row + lid.y + 16i and columns tile_col + lid.x + 16j.
  let last_m = max(params.M, 1u) - 1u;
  let last_n = max(params.N, 1u) - 1u;
  let m = min(vec4<u32>(tile_row + lid.y) + vec4<u32>(0u, 16u, 32u, 48u), vec4<u32>(last_m));
  let n = min(vec4<u32>(tile_col + lid.x) + vec4<u32>(0u, 16u, 32u, 48u), vec4<u32>(last_n));
  for (var i = 0u; i < 4u; i++) { acc[i] *= params.alpha; }
  let R = params.R;
  for (var j = 0u; j < R; j++) {
    let pv = params.s * vec4<f32>(p[m.x * R + j], p[m.y * R + j], p[m.z * R + j], p[m.w * R + j]);
    let qv = vec4<f32>(load_q(j, n.x), load_q(j, n.y), load_q(j, n.z), load_q(j, n.w));
    acc[0] = fma(vec4<f32>(pv.x), qv, acc[0]);
    acc[1] = fma(vec4<f32>(pv.y), qv, acc[1]);
    acc[2] = fma(vec4<f32>(pv.z), qv, acc[2]);
    acc[3] = fma(vec4<f32>(pv.w), qv, acc[3]);
  }
  for (var i = 0u; i < 4u; i++) {
    for (var jj = 0u; jj < 4u; jj++) {
      store_c(tile_row + lid.y + 16u * i, tile_col + lid.x + 16u * jj, acc[i][jj]);
    }
  }
}
