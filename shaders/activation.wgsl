// Elementwise activations and their backward passes on f32 arrays of n elements (shapes flattened
// row-major; the wrapper checks that gate and up have the same shape):
//   KIND_GELU_TANH   y = 0.5·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³)   (GPT-2 "gelu_new")
//   KIND_GELU_EXACT  y = x·Φ(x),               Φ(x) = 0.5·(1 + erf(x/√2))       (torch gelu)
//   KIND_SILU        y = x·σ(x)
//   KIND_SWIGLU      y = silu(gate)·up                                          (Llama MLP, fused)
// Backward (dy = ∂L/∂y):
//   gelu tanh   dx = dy·(s + x·2·s·(1−s)·u'),  s = σ(2u) = 0.5·(1 + tanh u),  u' = √(2/π)(1 + 3·0.044715·x²)
//   gelu exact  dx = dy·(Φ(x) + x·φ(x)),        φ(x) = exp(−x²/2)/√(2π)
//   silu        dx = dy·σ(x)·(1 + x·σ(−x))
//   swiglu      dgate = dy·up·σ(g)·(1 + g·σ(−g)),  dup = dy·silu(g)   (one pass, two outputs)
//
// Numerics:
//   - 0.5·(1 + tanh u) is evaluated as σ(2u) = 1/(1 + exp(−2u)), which has full relative accuracy
//     for every u (no cancellation as tanh u → −1, and no reliance on the platform's tanh, which
//     returns NaN for large arguments on some backends). 1 − s is σ(−2u), not 1 − σ(2u).
//   - exp arguments are clamped to ±80 so that exp never overflows (WGSL leaves f32 overflow
//     results unspecified); σ(−80) ≈ 1.8e-35 instead of a smaller number, which is 0 for all uses.
//   - WGSL has no erf. Φ is built from two pieces (z = x/√2, t = |z|):
//       t < 0.75: erf(z) = z·Σ_{k=0..11} (−1)^k z^{2k} / (k!(2k+1)) · 2/√π (Taylor; the first
//                 omitted term is < 1e-13 at t = 0.75);
//       t ≥ 0.75: erfc(t) by the Chebyshev fit of Numerical Recipes (erfcc; relative error
//                 < 1.2e-7 for all t ≥ 0), and Φ = 1 − erfc(t)/2 (z > 0) or erfc(t)/2 (z < 0),
//                 so the left tail keeps its relative accuracy instead of cancelling in 1 + erf.
//     Measured in f32 against float64 (activation.test.ts): |erf error| ≤ 2e-7 absolute on
//     [−6, 6]; the tail erfc(t) has relative error ≤ 2z²·2⁻²⁴ + 1.2e-7, which is the conditioning
//     of erfc at an f32 input, not a loss in the formula.
//
// Bindings: in the non-swiglu kinds `up` is not read (the wrapper binds x there) and `dup` is not
// written (bound to a placeholder). Forward dispatches write `dx` as y and do not read `dy`.
//
// Grid: one invocation per element, workgroups laid out 2-D (see elementwise.wgsl):
// i = (wid.y · nwg.x + wid.x) · WG + lid, indices ≥ n return.

struct Params { n: u32 }

override KIND: u32 = 0u;
override WG: u32 = 256u;

const KIND_GELU_TANH: u32 = 0u;
const KIND_GELU_EXACT: u32 = 1u;
const KIND_SILU: u32 = 2u;
const KIND_SWIGLU: u32 = 3u;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const GELU_C: f32 = 0.044715;
const INV_SQRT_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;           // [n] (gate for swiglu)
@group(0) @binding(2) var<storage, read> up: array<f32>;          // [n] swiglu only
@group(0) @binding(3) var<storage, read> dy: array<f32>;          // [n] backward only
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;    // [n] y (forward) or ∂L/∂x (∂L/∂gate)
@group(0) @binding(5) var<storage, read_write> dup: array<f32>;   // [n] ∂L/∂up (swiglu backward only)

fn sigmoid(z: f32) -> f32 {
  return 1.0 / (1.0 + exp(-clamp(z, -80.0, 80.0)));
}

// erfc(t) for t ≥ 0 (Numerical Recipes erfcc), relative error < 1.2e-7 in exact arithmetic.
fn erfc_pos(t: f32) -> f32 {
  let k = 1.0 / (1.0 + 0.5 * t);
  var p = 0.17087277;
  p = fma(p, k, -0.82215223);
  p = fma(p, k, 1.48851587);
  p = fma(p, k, -1.13520398);
  p = fma(p, k, 0.27886807);
  p = fma(p, k, -0.18628806);
  p = fma(p, k, 0.09678418);
  p = fma(p, k, 0.37409196);
  p = fma(p, k, 1.00002368);
  p = fma(p, k, -1.26551223);
  // exp(−t²) underflows to 0 past t ≈ 10 anyway; the clamp keeps the argument finite.
  let tc = min(t, 10.0);
  return k * exp(p - tc * tc);
}

// erf(z)/z for |z| < 0.75: Taylor series in s = z², coefficients (−1)^k·2/(√π·k!·(2k+1)).
fn erf_over_z_small(s: f32) -> f32 {
  var p = -1.2290555301717926e-9;
  p = fma(p, s, 1.4807192815879218e-8);
  p = fma(p, s, -1.6365844691234924e-7);
  p = fma(p, s, 1.6462114365889246e-6);
  p = fma(p, s, -1.4925650358406250e-5);
  p = fma(p, s, 1.2055332981789664e-4);
  p = fma(p, s, -8.5483270234508522e-4);
  p = fma(p, s, 5.2239776254421879e-3);
  p = fma(p, s, -2.6866170645131252e-2);
  p = fma(p, s, 1.1283791670955126e-1);
  p = fma(p, s, -3.7612638903183754e-1);
  p = fma(p, s, 1.1283791670955126);
  return p;
}

// Φ(x) = 0.5·(1 + erf(x/√2)), the standard normal CDF.
fn normal_cdf(v: f32) -> f32 {
  let z = v * INV_SQRT_2;
  let t = abs(z);
  if (t < 0.75) {
    return 0.5 + 0.5 * z * erf_over_z_small(z * z);
  }
  let half_erfc = 0.5 * erfc_pos(t);
  if (z > 0.0) { return 1.0 - half_erfc; }
  return half_erfc;
}

fn act_forward(v: f32, u: f32) -> f32 {
  if (KIND == KIND_GELU_TANH) {
    let inner = SQRT_2_OVER_PI * fma(GELU_C * v * v, v, v);
    return v * sigmoid(2.0 * inner);
  } else if (KIND == KIND_GELU_EXACT) {
    return v * normal_cdf(v);
  } else if (KIND == KIND_SILU) {
    return v * sigmoid(v);
  }
  return v * sigmoid(v) * u;
}

// d forward / d v (for swiglu: the derivative of silu, to be multiplied by up).
fn act_derivative(v: f32) -> f32 {
  if (KIND == KIND_GELU_TANH) {
    let inner = SQRT_2_OVER_PI * fma(GELU_C * v * v, v, v);
    let s = sigmoid(2.0 * inner);
    let s_minus = sigmoid(-2.0 * inner);
    let inner_prime = SQRT_2_OVER_PI * fma(3.0 * GELU_C, v * v, 1.0);
    return s + v * 2.0 * s * s_minus * inner_prime;
  } else if (KIND == KIND_GELU_EXACT) {
    let pdf = INV_SQRT_2PI * exp(-0.5 * min(v * v, 160.0));
    return normal_cdf(v) + v * pdf;
  }
  let s = sigmoid(v);
  return s * fma(v, sigmoid(-v), 1.0);
}

// y [n] = act(x [n]) (swiglu: silu(x) ⊙ up [n]); written to dx.
@compute @workgroup_size(WG)
fn activation_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= params.n) { return; }
  var u = 0.0;
  if (KIND == KIND_SWIGLU) { u = up[i]; }
  dx[i] = act_forward(x[i], u);
}

// dx [n] = dy ⊙ act'(x); swiglu also writes dup [n] = dy ⊙ silu(gate).
@compute @workgroup_size(WG)
fn activation_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= params.n) { return; }
  let v = x[i];
  let g = dy[i];
  if (KIND == KIND_SWIGLU) {
    let u = up[i];
    dx[i] = g * u * act_derivative(v);
    dup[i] = g * v * sigmoid(v);
  } else {
    dx[i] = g * act_derivative(v);
  }
}
