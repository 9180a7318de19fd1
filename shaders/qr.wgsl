// Thin QR pieces for CholeskyQR2 (Fukaya et al. 2014) with a Gram–Schmidt fallback, all f32:
//   cholesky       G [q, q] (= YᵀY, symmetric positive definite) → upper triangular R [q, q] with
//                  G = RᵀR (lower triangle zeroed). One workgroup. Flags a pivot that is not
//                  > tau · G_kk (a column numerically dependent on the previous ones, or NaN).
//   trsm           Q [m, q] = Y [m, q] · R⁻¹ (row-wise forward substitution, one invocation per row:
//                  Q[i, j] = (Y[i, j] − Σ_{t<j} Q[i, t] R[t, j]) / R[j, j]).
//   gram_schmidt   if flag[0] ≠ 0: Q [m, q] = orthonormal columns spanning Y's, by classical
//                  Gram–Schmidt applied twice per column ("twice is enough": orthogonal to working
//                  precision even when Y's condition number is 1e7+). One workgroup. A column whose
//                  residual is ≤ 1e-6 of its norm (numerically dependent, or zero) is replaced by a
//                  unit vector e_k (k = j, j+1, … mod m) and orthogonalised, so Q is orthonormal
//                  even for rank-deficient Y. When flag[0] = 0 it returns at once.
// All storage is read_write so the three entry points share one binding layout; each dispatch
// binds four distinct buffers:
//   cholesky:      a = G [q, q],  r = R [q, q] (out),  out = work [2q],  flag [1]
//   trsm:          a = Y [m, q],  r = R [q, q],        out = Q [m, q],   flag (unused)
//   gram_schmidt:  a = Y [m, q],  r = (unused),        out = Q [m, q],   flag [1]
//
// Cholesky layout: thread j owns column j of R (j ≡ lid mod WG) and writes nothing else of R.
// Step k computes row k's unnormalised values S_k[j] = G[k, j] − Σ_{i<k} R[i, k] R[i, j] (j ≥ k)
// into work slot k mod 2 and, in the same step, finalises row k−1 = S_{k−1} / √S_{k−1}[k−1] from
// the other slot. The term i = k−1 of the sum is taken from S_{k−1} directly (its R row is being
// written in this very step), so one barrier per row suffices: q + 1 barriers in all.

struct Params { m: u32, q: u32, tau: f32, reset: u32 }

override WG: u32 = 64u;
const MAX_Q: u32 = 1024u; // gram_schmidt's coefficient buffer

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;    // G [q, q] or Y [m, q]
@group(0) @binding(2) var<storage, read_write> r: array<f32>;    // R [q, q]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // work [2q] or Q [m, q]
@group(0) @binding(4) var<storage, read_write> flag: array<u32>; // [1]: 1 = Cholesky failed

var<workgroup> coef: array<f32, MAX_Q>;
var<workgroup> partial: array<f32, WG>;
var<workgroup> shared_norm: f32;
var<workgroup> shared_flag: u32;

@compute @workgroup_size(WG)
fn cholesky(@builtin(local_invocation_index) lid: u32) {
  let q = params.q;
  if (lid == 0u && params.reset != 0u) { flag[0] = 0u; }
  for (var j = lid; j < q; j += WG) {
    for (var i = j + 1u; i < q; i++) { r[i * q + j] = 0.0; }
  }
  for (var k = 0u; k <= q; k++) {
    let cur = (k & 1u) * q;  // slot of S_k
    let prev = q - cur;      // slot of S_{k−1}
    var d = 1.0;             // R[k−1, k−1]
    if (k > 0u) {
      let pivot = out[prev + k - 1u];
      if (!(pivot > params.tau * a[(k - 1u) * q + k - 1u]) && lid == 0u) { flag[0] = 1u; }
      d = sqrt(max(pivot, 1e-30));
    }
    for (var j = lid; j < q; j += WG) {
      if (k > 0u && j + 1u >= k) { r[(k - 1u) * q + j] = out[prev + j] / d; }
      if (k < q && j >= k) {
        var s = a[k * q + j];
        for (var i = 0u; i + 1u < k; i++) { s -= r[i * q + k] * r[i * q + j]; }
        if (k > 0u) { s -= (out[prev + k] / d) * (out[prev + j] / d); }
        out[cur + j] = s;
      }
    }
    storageBarrier();
  }
}

@compute @workgroup_size(WG)
fn trsm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= params.m) { return; }
  let q = params.q;
  let base = row * q;
  for (var j = 0u; j < q; j++) {
    var s = a[base + j];
    for (var t = 0u; t < j; t++) { s -= out[base + t] * r[t * q + j]; }
    out[base + j] = s / r[j * q + j];
  }
}

// ‖Q[:, j]‖₂, the same value in every invocation (uniform).
fn column_norm(j: u32, lid: u32) -> f32 {
  let q = params.q;
  var acc = 0.0;
  for (var i = lid; i < params.m; i += WG) {
    let v = out[i * q + j];
    acc += v * v;
  }
  partial[lid] = acc;
  workgroupBarrier();
  if (lid == 0u) {
    var s = 0.0;
    for (var t = 0u; t < WG; t++) { s += partial[t]; }
    shared_norm = sqrt(s);
  }
  return workgroupUniformLoad(&shared_norm);
}

// Q[:, j] −= Q[:, <j] (Q[:, <j]ᵀ Q[:, j]), once.
fn project_out(j: u32, lid: u32) {
  let q = params.q;
  for (var t = lid; t < j; t += WG) {
    var c = 0.0;
    for (var i = 0u; i < params.m; i++) { c += out[i * q + t] * out[i * q + j]; }
    coef[t] = c;
  }
  workgroupBarrier();
  for (var i = lid; i < params.m; i += WG) {
    var s = out[i * q + j];
    for (var t = 0u; t < j; t++) { s -= out[i * q + t] * coef[t]; }
    out[i * q + j] = s;
  }
  storageBarrier();
  workgroupBarrier(); // coef is rewritten by the next projection
}

@compute @workgroup_size(WG)
fn gram_schmidt(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { shared_flag = flag[0]; }
  if (workgroupUniformLoad(&shared_flag) == 0u) { return; }
  let m = params.m;
  let q = params.q;
  for (var e = lid; e < m * q; e += WG) { out[e] = a[e]; }
  storageBarrier();
  for (var j = 0u; j < q; j++) {
    var reference = column_norm(j, lid);
    var norm = 0.0;
    for (var attempt = 0u; attempt <= q; attempt++) {
      project_out(j, lid);
      project_out(j, lid);
      norm = column_norm(j, lid);
      if (norm > 1e-6 * reference && norm > 1e-30) { break; }
      // Numerically dependent (or zero): restart the column from e_k.
      let k = (j + attempt) % m;
      for (var i = lid; i < m; i += WG) { out[i * q + j] = select(0.0, 1.0, i == k); }
      storageBarrier();
      reference = 1.0;
    }
    let inv = select(0.0, 1.0 / norm, norm > 0.0);
    for (var i = lid; i < m; i += WG) { out[i * q + j] *= inv; }
    storageBarrier();
  }
}
