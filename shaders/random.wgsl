// Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
// as 1, 2, 3", SC 2011), bit-exact with Random123's philox4x32_10. Every value is a pure function
// of (key, counter), so results do not depend on the grid, the device or the dispatch order.
//
//   key     = (k0, k1)                 the 64-bit seed
//   counter = (c0 + block, c1, c2, c3) block = output index / 4, c1 = stream, c2 = c3 = 0 by default
// Each invocation computes one block of four u32 words x0..x3 and writes out[4·block .. 4·block+3]
// (fewer at the end of the array):
//   random_bits     bits[i] = x                                   (u32, for the reference tests)
//   random_uniform  out[i]  = lo + span · (x >> 8) · 2⁻²⁴          u ∈ [0, 1) on a 2⁻²⁴ grid
//   random_normal   out[i]  = mean + span · z,  Box–Muller on the pairs (x0, x1) and (x2, x3):
//                   u1 = ((x0 >> 9) + ½) · 2⁻²³ ∈ (0, 1) (never 0: log is finite, |z| ≤ 5.8),
//                   u2 = (x1 >> 8) · 2⁻²⁴,  z0 = √(−2 ln u1) cos 2πu2,  z1 = √(−2 ln u1) sin 2πu2.
// The bits and the uniforms are the same on every device; normals go through log/cos/sin, whose
// last bits may differ between GPUs (not between runs on one device).
//
// WGSL has no 64-bit integers: mulhilo builds the 32×32 → 64-bit product from 16-bit halves.
// Grid: 2-D (see elementwise.wgsl), block = (wid.y · nwg.x + wid.x) · WG + lid.

struct Params { n: u32, c0: u32, c1: u32, c2: u32, c3: u32, k0: u32, k1: u32, lo: f32, span: f32 }

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // [n] (random_uniform, random_normal)
@group(0) @binding(2) var<storage, read_write> bits: array<u32>; // [n] (random_bits)

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;
const TWO_PI: f32 = 6.283185307179586;

// (high, low) 32-bit words of the 64-bit product a·b.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let ll = a_lo * b_lo;
  let hl = a_hi * b_lo;
  let lh = a_lo * b_hi;
  let hh = a_hi * b_hi;
  let mid = (ll >> 16u) + (hl & 0xffffu) + lh; // ≤ 2³² − 1: no overflow
  return vec2<u32>(hh + (hl >> 16u) + (mid >> 16u), a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k += vec2<u32>(PHILOX_W0, PHILOX_W1); }
    let p0 = mulhilo(PHILOX_M0, c.x);
    let p1 = mulhilo(PHILOX_M1, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}

fn block_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

fn block_bits(block: u32) -> vec4<u32> {
  let counter = vec4<u32>(params.c0 + block, params.c1, params.c2, params.c3);
  return philox4x32_10(counter, vec2<u32>(params.k0, params.k1));
}

fn unit_open_closed(x: u32) -> f32 { // (0, 1): exact, since (x >> 9) + ½ fits 24 bits
  return (f32(x >> 9u) + 0.5) * (1.0 / 8388608.0);
}

fn unit_closed_open(x: u32) -> f32 { // [0, 1)
  return f32(x >> 8u) * (1.0 / 16777216.0);
}

fn box_muller(x: u32, y: u32) -> vec2<f32> {
  let radius = sqrt(-2.0 * log(unit_open_closed(x)));
  let angle = TWO_PI * unit_closed_open(y);
  return radius * vec2<f32>(cos(angle), sin(angle));
}

@compute @workgroup_size(WG)
fn random_bits(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let block = block_index(wid, nwg, lid);
  let base = block * 4u;
  if (base >= params.n) { return; }
  let x = block_bits(block);
  for (var j = 0u; j < 4u && base + j < params.n; j++) { bits[base + j] = x[j]; }
}

@compute @workgroup_size(WG)
fn random_uniform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let block = block_index(wid, nwg, lid);
  let base = block * 4u;
  if (base >= params.n) { return; }
  let x = block_bits(block);
  for (var j = 0u; j < 4u && base + j < params.n; j++) {
    out[base + j] = params.lo + params.span * unit_closed_open(x[j]);
  }
}

@compute @workgroup_size(WG)
fn random_normal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let block = block_index(wid, nwg, lid);
  let base = block * 4u;
  if (base >= params.n) { return; }
  let x = block_bits(block);
  let z = vec4<f32>(box_muller(x.x, x.y), box_muller(x.z, x.w));
  for (var j = 0u; j < 4u && base + j < params.n; j++) {
    out[base + j] = params.lo + params.span * z[j];
  }
}
