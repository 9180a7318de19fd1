// Batched matrix product where either operand may be a packed 16-bit tensor (frozen bf16/f16
// weights), same math and parameters as matmul.wgsl:
//   C[b] = alpha · op(A[b]) · op(B[b]) (+ bias) (+ beta · C[b])
//   op(A) [M, K]: A stored [M, K], or [K, M] when TRANS_A; op(B) [K, N]: B stored [K, N], or
//   [N, K] when TRANS_B (y = x Wᵀ with W [out, in]; dx = dy W reads W [out, in] untransposed).
//   C [M, N] f32; bias [N] f32. Strides are in elements.
// Operand storage (A_FORMAT, B_FORMAT): 0 f32, 1 bf16, 2 f16. Both are bound as array<u32>:
//   f32:  element e is word e (bitcast, free).
//   bf16/f16 packed: element e is the 16-bit half (e & 1) of word e >> 1 (element 2i in bits
//   0..15, 2i+1 in bits 16..31: the safetensors bytes read as little-endian u32). Elements are
//   indexed globally (row-major over the whole operand), so rows of odd length start mid-word.
//   bf16 → f32 is exact: the bf16 bits are the upper half of the f32 (shift left by 16).
//   f16 → f32 is exact: unpack2x16float (core WGSL, no shader-f16 needed). Where the device has
//   shader-f16, kernels/matmul.ts compiles this file with `enable f16;` and f16_pair below reading
//   the word as vec2<f16> instead (the same values; see F16_PAIR in the wrapper).
//
// Two variants, same bindings (as matmul.wgsl):
//   matmul_half_registers: 8×8 invocations, each a 4×4 block of C in registers, no barriers.
//   matmul_half_tiled: 16×16 invocations, 64×64 block of C, 64×16 slices of A and B staged
//     (already converted to f32) in workgroup memory.

struct Params { M: u32, N: u32, K: u32, strideA: u32, strideB: u32, strideC: u32, alpha: f32, beta: f32 }

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override A_FORMAT: u32 = 0u;
override B_FORMAT: u32 = 0u;

const FORMAT_F32: u32 = 0u;
const FORMAT_BF16: u32 = 1u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

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

@compute @workgroup_size(8, 8, 1)
fn matmul_half_registers(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= params.M || col0 >= params.N) { return; }
  let base_a = gid.z * params.strideA;
  let base_b = gid.z * params.strideB;
  // Rows/columns past the edge re-read the last valid one; store_c drops their results.
  let last_m = params.M - 1u;
  let last_n = params.N - 1u;
  let m = vec4<u32>(min(row0, last_m), min(row0 + 1u, last_m), min(row0 + 2u, last_m), min(row0 + 3u, last_m));
  let n = vec4<u32>(min(col0, last_n), min(col0 + 1u, last_n), min(col0 + 2u, last_n), min(col0 + 3u, last_n));
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k = 0u; k < params.K; k++) {
    let av = vec4<f32>(load_a(base_a, m.x, k), load_a(base_a, m.y, k), load_a(base_a, m.z, k), load_a(base_a, m.w, k));
    let bv = vec4<f32>(load_b(base_b, k, n.x), load_b(base_b, k, n.y), load_b(base_b, k, n.z), load_b(base_b, k, n.w));
    acc0 = fma(vec4<f32>(av.x), bv, acc0);
    acc1 = fma(vec4<f32>(av.y), bv, acc1);
    acc2 = fma(vec4<f32>(av.z), bv, acc2);
    acc3 = fma(vec4<f32>(av.w), bv, acc3);
  }
  let base_c = gid.z * params.strideC;
  let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      store_c(base_c, row0 + i, col0 + j, rows[i][j]);
    }
  }
}

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;
var<workgroup> tile_a: array<f32, 1024>; // [TILE_K][TILE] : tile_a[k * 64 + m]
var<workgroup> tile_b: array<f32, 1024>; // [TILE_K][TILE] : tile_b[k * 64 + n]

@compute @workgroup_size(16, 16, 1)
fn matmul_half_tiled(
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
