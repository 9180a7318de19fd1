// Lanczos tridiagonalisation of a symmetric positive semi-definite G [s, s] (G = EᵀE or EEᵀ of a
// layer's quantization error; linalg/nuclear.ts) from many independent start vectors at once:
// the columns of V [batch, s, cols], each column its own Lanczos run. The product W = G V is two
// batched matmuls done by the caller between the dispatches here; these entry points do the
// per-column scalar work, so nothing is read back until the coefficients are complete:
//   lanczos_sign    w = sign(w) elementwise (±1: Rademacher probes from uniform [−1, 1) values).
//   lanczos_start   per column c: start[c] = ‖w_c‖², v_c = w_c / ‖w_c‖ (0 for a zero column),
//                   vprev_c = 0.
//   lanczos_update  per column, step j (0-based) with w = G v on entry:
//                     w ← w − β_{j−1} v_prev;  α = vᵀw;  w ← w − α v;
//                     δ = vᵀw;  w ← w − δ v;  α ← α + δ       (local reorthogonalisation: the
//                                                              second Gram–Schmidt pass keeps v_{j+1}
//                                                              orthogonal to v_j to f32 rounding)
//                     β_j = ‖w‖, set to 0 when β_j ≤ tol·(|α| + β_{j−1}) (Krylov space exhausted);
//                     w ← w / β_j (v_{j+1}; 0 after a breakdown, and every later step is then 0);
//                     coef[c, j] = (α_j, β_j).
//                   The caller rotates (vprev, v, w) ← (v, w, vprev) between steps. No full
//                   reorthogonalisation: quadrature from Lanczos without it stays accurate
//                   (Greenbaum 1989; ghost Ritz values split their weight, they do not add to it).
// One invocation per column loops over the s rows (adjacent invocations read adjacent columns, so
// the loads coalesce); the work is 4 passes of s per column and step against the matmuls'
// 4·m·n per column, so it is never the bottleneck. Columns are flat c = b·cols + k.

struct Params { s: u32, cols: u32, count: u32, n: u32, step: u32, steps: u32, tol: f32 }

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> vprev: array<f32>; // [batch, s, cols]
@group(0) @binding(2) var<storage, read_write> v: array<f32>;     // [batch, s, cols]
@group(0) @binding(3) var<storage, read_write> w: array<f32>;     // [batch, s, cols]
@group(0) @binding(4) var<storage, read_write> coef: array<f32>;  // [batch, cols, steps, 2]: (α_j, β_j)
@group(0) @binding(5) var<storage, read_write> start: array<f32>; // [batch, cols]: ‖start vector‖²

fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// Element (row i) of flat column c in the [batch, s, cols] layout.
fn at(c: u32, i: u32) -> u32 {
  let b = c / params.cols;
  return (b * params.s + i) * params.cols + c % params.cols;
}

@compute @workgroup_size(WG)
fn lanczos_sign(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_id(wid, nwg, lid);
  if (i >= params.n) { return; }
  w[i] = select(-1.0, 1.0, w[i] >= 0.0);
}

@compute @workgroup_size(WG)
fn lanczos_start(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = flat_id(wid, nwg, lid);
  if (c >= params.count) { return; }
  var norm2 = 0.0;
  for (var i = 0u; i < params.s; i++) {
    let x = w[at(c, i)];
    norm2 += x * x;
  }
  let inv = select(0.0, inverseSqrt(norm2), norm2 > 0.0);
  for (var i = 0u; i < params.s; i++) {
    let k = at(c, i);
    v[k] = w[k] * inv;
    vprev[k] = 0.0;
  }
  start[c] = norm2;
}

@compute @workgroup_size(WG)
fn lanczos_update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = flat_id(wid, nwg, lid);
  if (c >= params.count) { return; }
  let s = params.s;
  let cb = (c * params.steps + params.step) * 2u;
  var beta_prev = 0.0;
  if (params.step > 0u) { beta_prev = coef[cb - 1u]; }
  var alpha = 0.0;
  for (var i = 0u; i < s; i++) {
    let k = at(c, i);
    let x = w[k] - beta_prev * vprev[k];
    w[k] = x;
    alpha += v[k] * x;
  }
  var delta = 0.0;
  for (var i = 0u; i < s; i++) {
    let k = at(c, i);
    let x = w[k] - alpha * v[k];
    w[k] = x;
    delta += v[k] * x;
  }
  var norm2 = 0.0;
  for (var i = 0u; i < s; i++) {
    let k = at(c, i);
    let x = w[k] - delta * v[k];
    w[k] = x;
    norm2 += x * x;
  }
  alpha += delta;
  var beta = sqrt(norm2);
  if (!(beta > params.tol * (abs(alpha) + beta_prev))) { beta = 0.0; } // also catches NaN
  let inv = select(0.0, 1.0 / beta, beta > 0.0);
  for (var i = 0u; i < s; i++) {
    let k = at(c, i);
    w[k] = w[k] * inv;
  }
  coef[cb] = alpha;
  coef[cb + 1u] = beta;
}
