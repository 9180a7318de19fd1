// Matrix products with an NF4 weight W' [out, in] (nf4.wgsl has the format) that decode the codes
// on the fly, with a LoRA layer's low-rank term in their epilogue (tensor/ops/loraLinear.ts; R = 0:
// none, for a plain NF4 layer), as matmul_lora.wgsl does for a dense base:
//   nf4_matmul     y [N, out] = x [N, in] · W'ᵀ + s · p [N, R] · q [out, R]ᵀ (+ bias [out]) (+ beta · y)
//                  p = h', q = B;  src = x, f = bias, out = y
//   nf4_matmul_dx  dx [N, in] = G [N, out] · W' + s · p [N, R] · q [R, in] (+ beta · dx)
//                  p = dh, q = A;  src = G, out = dx
//                  beside  d [R, in] = sAlpha · pᵀ · f (+ sBeta · d), f = x: dA = dhᵀ x (SM = 0: none)
// kernels/nf4.ts splices nf4.wgsl's constants in at <nf4 constants> and appends the side product of
// matmul_lora_side.wgsl. The products read a plain absmax [blocks]; for a double-quantized weight the
// wrapper restores it first (n/64 floats), so the hot loops never touch the 8-bit codes.
// Within a packed word, element k (0..7) sits at bit 8⌊k/2⌋ + 4(1 − k%2); lin_word() swaps the
// nibbles of each byte so that element k sits at bit 4k, which lets decode8() read any 8 consecutive
// elements with one funnel shift across two words.
//
// Register tiles, no workgroup memory and no barriers (slow on SwiftShader), as matmul_registers:
//   nf4_matmul: 8×8 invocations, each 4 rows of x × 4 rows of W (4×4 outputs), k in steps of 8;
//   nf4_matmul_dx: 8×8 invocations, each 4 rows of G × 8 consecutive columns of W.
//   Decoding 8 codes costs two word loads, two absmax loads and two 4-wide select trees, shared by
//   the 4 rows of the tile. On SwiftShader they run at ~0.7× the plain registers matmul. The low-rank
//   term then runs R more rank-1 updates of the same register block: with p · q = 0 (B = 0 at init)
//   the outputs are those of the product alone, bit for bit.
// Workgroups: the first mainTiles run the main product (tile (t % mainTilesX, t / mainTilesX): 32 rows
// × 32 columns of y, or 32 rows × 64 columns of dx), the next ones the side product; t = wid.y ·
// num_workgroups.x + wid.x, and workgroups past the last tile return at once.

struct Params {
  n: u32, blocks: u32, rows: u32, inF: u32, outF: u32, R: u32, s: f32, beta: f32,
  mainTilesX: u32, mainTiles: u32, SM: u32, SN: u32, SK: u32, sAlpha: f32, sBeta: f32, sideTilesX: u32, tiles: u32
}

override HAS_BIAS: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;         // x [N, in] | G [N, out]
@group(0) @binding(2) var<storage, read> packed: array<u32>;      // [ceil(n/8)]
@group(0) @binding(3) var<storage, read> absmax: array<f32>;      // [blocks]
@group(0) @binding(4) var<storage, read> p: array<f32>;           // h' [N, R] | dh [N, R]
@group(0) @binding(5) var<storage, read> q: array<f32>;           // B [out, R] | A [R, in]
@group(0) @binding(6) var<storage, read> f: array<f32>;           // bias [out] | x [N, in]
@group(0) @binding(7) var<storage, read_write> out: array<f32>;   // y | dx
@group(0) @binding(8) var<storage, read_write> d: array<f32>;     // dA [R, in]

// <nf4 constants>
// </nf4 constants>

struct W8 { lo: vec4<f32>, hi: vec4<f32> }

fn lin_word(w: u32) -> u32 {
  return ((w >> 4u) & 0x0F0F0F0Fu) | ((w & 0x0F0F0F0Fu) << 4u);
}

// Dequantized W' at flat indices f .. f+7. Indices past n read clamped, finite values; callers
// multiply them by zero or drop them.
fn decode8(f: u32) -> W8 {
  let last_word = (params.n - 1u) >> 3u;
  let wi = f >> 3u;
  let s = (f & 7u) * 4u;
  var bits = lin_word(packed[min(wi, last_word)]);
  if (s != 0u) {
    bits = (bits >> s) | (lin_word(packed[min(wi + 1u, last_word)]) << (32u - s));
  }
  let b0 = f / BLOCK;
  let last_block = params.blocks - 1u;
  let a0 = absmax[min(b0, last_block)];
  let a1 = absmax[min(b0 + 1u, last_block)];
  let split = (b0 + 1u) * BLOCK - f; // elements j < split lie in block b0
  let lo = nf4_values(vec4<u32>(bits, bits >> 4u, bits >> 8u, bits >> 12u) & vec4<u32>(15u));
  let hi = nf4_values(vec4<u32>(bits >> 16u, bits >> 20u, bits >> 24u, bits >> 28u) & vec4<u32>(15u));
  let j = vec4<u32>(0u, 1u, 2u, 3u);
  return W8(lo * select(vec4<f32>(a1), vec4<f32>(a0), j < vec4<u32>(split)),
            hi * select(vec4<f32>(a1), vec4<f32>(a0), j + vec4<u32>(4u) < vec4<u32>(split)));
}

// NF4[q] for four codes by a select tree on their bits: vector selects instead of four indexed
// loads from a private array (which SwiftShader scalarises).
fn nf4_values(q: vec4<u32>) -> vec4<f32> {
  let z = vec4<u32>(0u);
  let b0 = (q & vec4<u32>(1u)) != z;
  let b1 = (q & vec4<u32>(2u)) != z;
  let b2 = (q & vec4<u32>(4u)) != z;
  let b3 = (q & vec4<u32>(8u)) != z;
  let p0 = select(vec4<f32>(NF4[0]), vec4<f32>(NF4[1]), b0);
  let p1 = select(vec4<f32>(NF4[2]), vec4<f32>(NF4[3]), b0);
  let p2 = select(vec4<f32>(NF4[4]), vec4<f32>(NF4[5]), b0);
  let p3 = select(vec4<f32>(NF4[6]), vec4<f32>(NF4[7]), b0);
  let p4 = select(vec4<f32>(NF4[8]), vec4<f32>(NF4[9]), b0);
  let p5 = select(vec4<f32>(NF4[10]), vec4<f32>(NF4[11]), b0);
  let p6 = select(vec4<f32>(NF4[12]), vec4<f32>(NF4[13]), b0);
  let p7 = select(vec4<f32>(NF4[14]), vec4<f32>(NF4[15]), b0);
  let r0 = select(p0, p1, b1);
  let r1 = select(p2, p3, b1);
  let r2 = select(p4, p5, b1);
  let r3 = select(p6, p7, b1);
  return select(select(r0, r1, b2), select(r2, r3, b2), b3);
}

fn load_x(row: u32, col: u32, width: u32) -> f32 {
  return select(0.0, src[row * width + min(col, width - 1u)], col < width);
}

// src[row, col .. col+7] of a [rows, width] matrix, zero past the row's end.
fn load_row8(row: u32, col: u32, width: u32) -> W8 {
  return W8(
    vec4<f32>(load_x(row, col, width), load_x(row, col + 1u, width), load_x(row, col + 2u, width), load_x(row, col + 3u, width)),
    vec4<f32>(load_x(row, col + 4u, width), load_x(row, col + 5u, width), load_x(row, col + 6u, width), load_x(row, col + 7u, width)));
}

fn dot8(a: W8, b: W8) -> f32 {
  return dot(a.lo, b.lo) + dot(a.hi, b.hi);
}

fn store(index: u32, value: f32) {
  var v = value;
  if (params.beta != 0.0) { v += params.beta * out[index]; }
  out[index] = v;
}

fn store_dx8(row: u32, col0: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (row >= params.rows) { return; }
  let K = params.inF;
  for (var j = 0u; j < 4u; j++) {
    if (col0 + j < K) { store(row * K + col0 + j, lo[j]); }
    if (col0 + 4u + j < K) { store(row * K + col0 + 4u + j, hi[j]); }
  }
}

/** Element e of the side product's E (dh). */
fn side_e(e: u32) -> f32 {
  return p[e];
}

fn store_y4(row: u32, col0: u32, acc: vec4<f32>) {
  if (row >= params.rows) { return; }
  for (var j = 0u; j < 4u; j++) {
    let col = col0 + j;
    if (col < params.outF) {
      var v = acc[j];
      if (HAS_BIAS) { v += f[col]; }
      store(row * params.outF + col, v);
    }
  }
}

@compute @workgroup_size(8, 8, 1)
fn nf4_matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = wid.y * nwg.x + wid.x;
  if (t >= params.mainTiles) { return; }
  let row0 = ((t / params.mainTilesX) * 8u + lid.y) * 4u;
  let col0 = ((t % params.mainTilesX) * 8u + lid.x) * 4u;
  let N = params.rows;
  let K = params.inF;
  let O = params.outF;
  if (row0 >= N || col0 >= O) { return; }
  // Rows/columns past the edge re-read the last valid one; store_y4 drops their results.
  let m = vec4<u32>(row0, min(row0 + 1u, N - 1u), min(row0 + 2u, N - 1u), min(row0 + 3u, N - 1u));
  let n = vec4<u32>(col0, min(col0 + 1u, O - 1u), min(col0 + 2u, O - 1u), min(col0 + 3u, O - 1u));
  let c0 = n.x * K;
  let c1 = n.y * K;
  let c2 = n.z * K;
  let c3 = n.w * K;
  var acc0 = vec4<f32>(0.0); // row m.x, output columns col0 .. col0+3
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k = 0u; k < K; k += 8u) {
    let x0 = load_row8(m.x, k, K);
    let x1 = load_row8(m.y, k, K);
    let x2 = load_row8(m.z, k, K);
    let x3 = load_row8(m.w, k, K);
    let w0 = decode8(c0 + k);
    let w1 = decode8(c1 + k);
    let w2 = decode8(c2 + k);
    let w3 = decode8(c3 + k);
    acc0 += vec4<f32>(dot8(x0, w0), dot8(x0, w1), dot8(x0, w2), dot8(x0, w3));
    acc1 += vec4<f32>(dot8(x1, w0), dot8(x1, w1), dot8(x1, w2), dot8(x1, w3));
    acc2 += vec4<f32>(dot8(x2, w0), dot8(x2, w1), dot8(x2, w2), dot8(x2, w3));
    acc3 += vec4<f32>(dot8(x3, w0), dot8(x3, w1), dot8(x3, w2), dot8(x3, w3));
  }
  let R = params.R;
  for (var j = 0u; j < R; j++) {
    let pv = params.s * vec4<f32>(p[m.x * R + j], p[m.y * R + j], p[m.z * R + j], p[m.w * R + j]);
    let qv = vec4<f32>(q[n.x * R + j], q[n.y * R + j], q[n.z * R + j], q[n.w * R + j]);
    acc0 = fma(vec4<f32>(pv.x), qv, acc0);
    acc1 = fma(vec4<f32>(pv.y), qv, acc1);
    acc2 = fma(vec4<f32>(pv.z), qv, acc2);
    acc3 = fma(vec4<f32>(pv.w), qv, acc3);
  }
  store_y4(row0, col0, acc0);
  store_y4(row0 + 1u, col0, acc1);
  store_y4(row0 + 2u, col0, acc2);
  store_y4(row0 + 3u, col0, acc3);
}

@compute @workgroup_size(8, 8, 1)
fn nf4_matmul_dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = wid.y * nwg.x + wid.x;
  if (t >= params.tiles) { return; }
  if (t >= params.mainTiles) {
    side_product(t - params.mainTiles, lid.x, lid.y, 8u, 8u);
    return;
  }
  let row0 = ((t / params.mainTilesX) * 8u + lid.y) * 4u;
  let col0 = ((t % params.mainTilesX) * 8u + lid.x) * 8u;
  let N = params.rows;
  let K = params.inF;
  let O = params.outF;
  if (row0 >= N || col0 >= K) { return; }
  let m = vec4<u32>(row0, min(row0 + 1u, N - 1u), min(row0 + 2u, N - 1u), min(row0 + 3u, N - 1u));
  let g0 = m.x * O;
  let g1 = m.y * O;
  let g2 = m.z * O;
  let g3 = m.w * O;
  var lo0 = vec4<f32>(0.0); // row m.x, columns col0 .. col0+3
  var hi0 = vec4<f32>(0.0); // row m.x, columns col0+4 .. col0+7
  var lo1 = vec4<f32>(0.0);
  var hi1 = vec4<f32>(0.0);
  var lo2 = vec4<f32>(0.0);
  var hi2 = vec4<f32>(0.0);
  var lo3 = vec4<f32>(0.0);
  var hi3 = vec4<f32>(0.0);
  for (var o = 0u; o < O; o++) {
    let w = decode8(o * K + col0); // columns past K read the next row; dropped at the store
    let a0 = src[g0 + o];
    let a1 = src[g1 + o];
    let a2 = src[g2 + o];
    let a3 = src[g3 + o];
    lo0 += a0 * w.lo;
    hi0 += a0 * w.hi;
    lo1 += a1 * w.lo;
    hi1 += a1 * w.hi;
    lo2 += a2 * w.lo;
    hi2 += a2 * w.hi;
    lo3 += a3 * w.lo;
    hi3 += a3 * w.hi;
  }
  let R = params.R;
  let last = K - 1u;
  let nlo = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
  let nhi = min(vec4<u32>(col0) + vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(last));
  for (var j = 0u; j < R; j++) {
    let pv = params.s * vec4<f32>(p[m.x * R + j], p[m.y * R + j], p[m.z * R + j], p[m.w * R + j]);
    let row = j * K;
    let qlo = vec4<f32>(q[row + nlo.x], q[row + nlo.y], q[row + nlo.z], q[row + nlo.w]);
    let qhi = vec4<f32>(q[row + nhi.x], q[row + nhi.y], q[row + nhi.z], q[row + nhi.w]);
    lo0 = fma(vec4<f32>(pv.x), qlo, lo0);
    hi0 = fma(vec4<f32>(pv.x), qhi, hi0);
    lo1 = fma(vec4<f32>(pv.y), qlo, lo1);
    hi1 = fma(vec4<f32>(pv.y), qhi, hi1);
    lo2 = fma(vec4<f32>(pv.z), qlo, lo2);
    hi2 = fma(vec4<f32>(pv.z), qhi, hi2);
    lo3 = fma(vec4<f32>(pv.w), qlo, lo3);
    hi3 = fma(vec4<f32>(pv.w), qhi, hi3);
  }
  store_dx8(row0, col0, lo0, hi0);
  store_dx8(row0 + 1u, col0, lo1, hi1);
  store_dx8(row0 + 2u, col0, lo2, hi2);
  store_dx8(row0 + 3u, col0, lo3, hi3);
}
