// Batched matrix product with an optional bias and accumulation:
//   C[b] = alpha · op(A[b]) · op(B[b]) (+ bias) (+ beta · C[b])
//   op(A) [M, K]: A stored [M, K] row-major, or [K, M] when TRANS_A.
//   op(B) [K, N]: B stored [K, N] row-major, or [N, K] when TRANS_B (y = x Wᵀ with W [out, in]).
//   C [M, N] row-major; bias [N] broadcast over rows when HAS_BIAS.
//   Batch b (workgroup z) reads A at b·strideA, B at b·strideB and writes C at b·strideC
//   (in elements); a stride of 0 shares one operand across the batch.
//   beta is 0 (overwrite; C is never read, so garbage in C cannot leak in as NaN) or 1 (accumulate).
//
// Two variants, same bindings:
//   matmul_registers: 8×8 invocations, each a 4×4 block of C held in registers, no workgroup
//     memory and no barriers. Barriers cost more than they save on SwiftShader (CPU).
//   matmul_tiled: 16×16 invocations computing a 64×64 block of C, staging 64×16 slices of A and B
//     in workgroup memory (8 KiB). Each invocation owns rows ty+16i and columns tx+16j, so reads of
//     the B tile are contiguous across a warp and reads of the A tile are broadcasts.
//
// Both read A and B only through fetch_a(e) / fetch_b(e): element e of the operand's storage
// (row-major over the whole operand, batch offset included). The block between the <operand loads>
// markers reads f32 operands; kernels/matmul.ts makes the packed 16-bit variant (frozen bf16/f16
// weights) by splicing matmul_half_loads.wgsl in its place, so both share every other line.

struct Params { M: u32, N: u32, K: u32, strideA: u32, strideB: u32, strideC: u32, alpha: f32, beta: f32 }

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
// <operand loads>
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

fn fetch_a(e: u32) -> f32 { return a[e]; }
fn fetch_b(e: u32) -> f32 { return b[e]; }
// </operand loads>
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn load_a(base: u32, m: u32, k: u32) -> f32 {
  if (TRANS_A) { return fetch_a(base + k * params.M + m); }
  return fetch_a(base + m * params.K + k);
}

fn load_b(base: u32, k: u32, n: u32) -> f32 {
  if (TRANS_B) { return fetch_b(base + n * params.K + k); }
  return fetch_b(base + k * params.N + n);
}

fn store_c(base: u32, m: u32, n: u32, acc: f32) {
  if (m >= params.M || n >= params.N) { return; }
  var value = params.alpha * acc;
  if (HAS_BIAS) { value += bias[n]; }
  let index = base + m * params.N + n;
  if (params.beta != 0.0) { value += params.beta * c[index]; }
  c[index] = value;
}

// Four consecutive rows (or columns) from `start`, clamped to `last` instead of branching: those
// past the edge re-read the last valid one, and store_c drops their results.
fn block4(start: u32, last: u32) -> vec4<u32> {
  return min(vec4<u32>(start) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
}

fn load_a4(base: u32, m: vec4<u32>, k: u32) -> vec4<f32> {
  return vec4<f32>(load_a(base, m.x, k), load_a(base, m.y, k), load_a(base, m.z, k), load_a(base, m.w, k));
}

fn load_b4(base: u32, k: u32, n: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(load_b(base, k, n.x), load_b(base, k, n.y), load_b(base, k, n.z), load_b(base, k, n.w));
}

// The 4×4 block rows[i][j] of C at (row0 + i, col0 + j).
fn store_block(base_c: u32, row0: u32, col0: u32, rows: array<vec4<f32>, 4>) {
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      store_c(base_c, row0 + i, col0 + j, rows[i][j]);
    }
  }
}

@compute @workgroup_size(8, 8, 1)
fn matmul_registers(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= params.M || col0 >= params.N) { return; }
  let base_a = gid.z * params.strideA;
  let base_b = gid.z * params.strideB;
  let m = block4(row0, params.M - 1u);
  let n = block4(col0, params.N - 1u);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k = 0u; k < params.K; k++) {
    let av = load_a4(base_a, m, k);
    let bv = load_b4(base_b, k, n);
    acc0 = fma(vec4<f32>(av.x), bv, acc0);
    acc1 = fma(vec4<f32>(av.y), bv, acc1);
    acc2 = fma(vec4<f32>(av.z), bv, acc2);
    acc3 = fma(vec4<f32>(av.w), bv, acc3);
  }
  store_block(gid.z * params.strideC, row0, col0, array<vec4<f32>, 4>(acc0, acc1, acc2, acc3));
}

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [TILE_K][TILE] : tile_a[k * 64 + m]
var<workgroup> tile_b: array<f32, 1024>; // [TILE_K][TILE] : tile_b[k * 64 + n]

@compute @workgroup_size(16, 16, 1)
fn matmul_tiled(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let tile_row = wid.y * TILE;
  let tile_col = wid.x * TILE;
  let base_a = wid.z * params.strideA;
  let base_b = wid.z * params.strideB;
  let t = lid.y * 16u + lid.x;
  var acc: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < params.K; k0 += TILE_K) {
    // 256 invocations stage 1024 values of each operand, 4 each, reading along whichever axis
    // is contiguous in memory.
    for (var r = 0u; r < 4u; r++) {
      let e = t + 256u * r;
      var m: u32; var ka: u32;
      if (TRANS_A) { ka = e / TILE; m = e % TILE; } else { m = e / TILE_K; ka = e % TILE_K; }
      let gm = tile_row + m;
      let gka = k0 + ka;
      var va = 0.0;
      if (gm < params.M && gka < params.K) { va = load_a(base_a, gm, gka); }
      tile_a[ka * TILE + m] = va;

      var n: u32; var kb: u32;
      if (TRANS_B) { n = e / TILE_K; kb = e % TILE_K; } else { kb = e / TILE; n = e % TILE; }
      let gn = tile_col + n;
      let gkb = k0 + kb;
      var vb = 0.0;
      if (gn < params.N && gkb < params.K) { vb = load_b(base_b, gkb, gn); }
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
  let base_c = wid.z * params.strideC;
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      store_c(base_c, tile_row + lid.y + 16u * i, tile_col + lid.x + 16u * j, acc[i][j]);
    }
  }
}
