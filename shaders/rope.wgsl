// Rotary position embedding, Hugging Face "rotate half" convention (Llama, Qwen, Mistral):
//   x, out [B, T, H*D] row-major; head h occupies columns h·D .. h·D+D−1.
//   For i < D/2:  freq_i = theta^(−2i/D),  angle = pos · freq_i,  pos = offset + t,
//     out[i]       = x[i]·cos − x[i+D/2]·sin
//     out[i+D/2]   = x[i+D/2]·cos + x[i]·sin
//   INVERSE rotates by −angle (the backward pass: the rotation is orthogonal, so its transpose
//   is its inverse):  dx[i] = dy[i]·cos + dy[i+D/2]·sin,  dx[i+D/2] = dy[i+D/2]·cos − dy[i]·sin.
//
// One invocation per rotated pair (b, t, h, i), 2-D grid of workgroups (flat workgroup index
// wid.y · nwg.x + wid.x, overshoot dropped). Each pair is read and written by the same invocation,
// so out may not alias x (the wrapper allocates a fresh output).
//
// Precision: freq_i = exp2(−(2i/D) · log2 theta) with log2 theta computed in float64 on the CPU;
// angle = f32(pos) · freq_i rounded to f32 as Hugging Face does (its inv_freq and angles are
// float32 too). cos and sin are NOT the WGSL builtins: the spec allows them 2^−11 absolute error
// on [−π, π] (SwiftShader's are off by ~1.5e-4) and nothing at all beyond it. Instead the angle
// is reduced by multiples of π/2 with a three-part Cody–Waite constant and Cephes' sinf/cosf
// minimax polynomials (|error| ≲ 1e-7) run on [−π/4, π/4]; the quadrant picks sign and swap.

struct Params { n: u32, T: u32, H: u32, halfD: u32, offset: u32, log2Theta: f32 }

override INVERSE: bool = false;
override WG: u32 = 256u;

// π/2 = PIO2_1 + PIO2_2 + PIO2_3 (Cephes' DP1..DP3 doubled): PIO2_1 has 8 significant bits
// and PIO2_2 12, so k · PIO2_1 and k · PIO2_2 are exact for |k| < 2^12 (angles up to ~6400 rad,
// i.e. positions up to 6400 for freq_0 = 1); beyond that the reduction loses a few bits more.
const PIO2_1: f32 = 1.5703125;
const PIO2_2: f32 = 4.837512969970703125e-4;
const PIO2_3: f32 = 7.54978995489188216e-8;
const TWO_OVER_PI: f32 = 0.636619772367581343;

// sin and cos of r, |r| ≤ π/4 (Cephes sinf.c / cosf.c coefficients).
fn sin_poly(r: f32) -> f32 {
  let z = r * r;
  return r + r * z * ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1);
}

fn cos_poly(r: f32) -> f32 {
  let z = r * r;
  return 1.0 - 0.5 * z + z * z * ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2);
}

/** (cos a, sin a) for a ≥ 0. */
fn cos_sin(a: f32) -> vec2<f32> {
  let k = round(a * TWO_OVER_PI);
  let r = ((a - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
  let c = cos_poly(r);
  let s = sin_poly(r);
  // a = k·π/2 + r: rotate (cos r, sin r) by k quarter turns.
  switch (u32(k) & 3u) {
    case 0u: { return vec2<f32>(c, s); }
    case 1u: { return vec2<f32>(-s, c); }
    case 2u: { return vec2<f32>(-c, -s); }
    default: { return vec2<f32>(s, -c); }
  }
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [B, T, H*D]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // [B, T, H*D]

@compute @workgroup_size(WG)
fn rope(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  // e enumerates pairs [B, T, H, D/2].
  let e = (wid.y * nwg.x + wid.x) * WG + lid;
  if (e >= params.n) { return; }
  let half = params.halfD;
  let i = e % half;
  let row = e / half;          // (b·T + t)·H + h
  let t = (row / params.H) % params.T;
  let base = row * 2u * half;  // start of head h in row (b, t)

  let freq = exp2(-(f32(i) / f32(half)) * params.log2Theta);
  let angle = f32(params.offset + t) * freq;
  let cs = cos_sin(angle);
  let c = cs.x;
  var s = cs.y;
  if (INVERSE) { s = -s; }

  let x1 = x[base + i];
  let x2 = x[base + i + half];
  out[base + i] = x1 * c - x2 * s;
  out[base + i + half] = x2 * c + x1 * s;
}
