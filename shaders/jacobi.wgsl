// One-sided (Hestenes) Jacobi SVD of a small-by-wide matrix C [q, n] (q rows, any n), f32:
//   C = Û diag(σ) Vᵀ,  Û [q, q] orthogonal, σ [q] descending, Vᵀ [q, n] orthonormal rows.
// X [q, n] starts as C and U_acc [q, q] as I. Each rotation of a row pair (a, b), with
// α = ‖x_a‖², β = ‖x_b‖², γ = x_a·x_b, ζ = (β − α)/2γ, t = sign ζ/(|ζ| + √(1+ζ²)), c = 1/√(1+t²),
// s = c·t, maps x_a ← c·x_a − s·x_b, x_b ← s·x_a + c·x_b (which makes them orthogonal) and does
// the same to rows a, b of U_acc. When no pair has |γ| > tol·√(αβ), X = U_acc C has orthogonal
// rows, so C = U_accᵀ X: σ_i = ‖x_i‖, Vᵀ row = x_i/σ_i, Û column = U_acc row i.
// Pairs follow the round-robin (circle) order: q' = q rounded up to even, q' − 1 rounds of q'/2
// disjoint pairs, every pair once per sweep; a pair with the dummy index q (odd q) is skipped.
//
// Entry points (every dispatch binds all seven buffers; one SVD uses the same seven throughout):
//   jacobi_init     X = C (or Cᵀ with TRANS_IN: c holds [n, q]), U_acc = I, status = 0. Grid.
//   jacobi_sweeps   up to maxSweeps sweeps inside ONE workgroup, one invocation per pair, one
//                   barrier per round; stops after a sweep without rotations. status[1] = sweeps,
//                   status[2] = 1 if converged. For q ≲ 128 (sketches): no readback needed.
//   jacobi_round    one round `round`, one workgroup per pair (the three dot products reduced in
//                   workgroup memory, the rotation split across the workgroup); atomically counts
//                   rotations in status[0]. For large q (exact SVD, nuclear norms): the host
//                   dispatches q' − 1 rounds per sweep and reads status[0] after each sweep.
//   jacobi_reset    status[0] = 0 (between sweeps of jacobi_round).
//   jacobi_extract  ONE workgroup: σ_i = ‖x_i‖, descending order (ties by index), then writes the
//                   first `keep`: s [keep]; without TRANS_OUT u = Û[:, :keep] [q, keep] and
//                   vt = Vᵀ[:keep] [keep, n]; with TRANS_OUT (the SVD of Cᵀ) u [n, keep] holds
//                   Vᵀ[:keep]ᵀ and vt [keep, q] holds Û[:, :keep]ᵀ. A zero σ gives a zero Vᵀ row.
// WANT_U = false skips U_acc entirely (singular values only, e.g. nuclear norms).
// Batched: workgroup_id.z = b runs the same entry point on matrix b of a batch of equal shapes,
// every buffer holding its matrices back to back (c, x [batch, q, n], uacc [batch, q, q],
// status [batch, 4], u, s, vt [batch, ...]); the stubs of unused outputs are never indexed. One
// dispatch serves all the matrices of a batch (jacobi_round: workgroups [pairs, 1, batch]).

struct Params { q: u32, n: u32, keep: u32, maxSweeps: u32, round: u32, tol: f32 }

override WG: u32 = 64u;
override TRANS_IN: bool = false;
override TRANS_OUT: bool = false;
override WANT_U: bool = true;
const MAX_Q: u32 = 1024u; // jacobi_extract's workgroup arrays

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> c: array<f32>;                 // C [q, n] ([n, q] with TRANS_IN)
@group(0) @binding(2) var<storage, read_write> x: array<f32>;           // X [q, n]
@group(0) @binding(3) var<storage, read_write> uacc: array<f32>;        // U_acc [q, q]
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>>; // [4]: rotations, sweeps, converged
@group(0) @binding(5) var<storage, read_write> u: array<f32>;           // [q, keep] ([n, keep] with TRANS_OUT)
@group(0) @binding(6) var<storage, read_write> s: array<f32>;           // [keep]
@group(0) @binding(7) var<storage, read_write> vt: array<f32>;          // [keep, n] ([keep, q] with TRANS_OUT)

var<workgroup> rotations: atomic<u32>;
var<workgroup> sweep_done: u32;
var<workgroup> red: array<f32, 768>; // 3 · WG (WG ≤ 256)
var<workgroup> sigma: array<f32, MAX_Q>;
var<workgroup> order: array<u32, MAX_Q>;

// Offsets of matrix b = workgroup_id.z in each buffer, set by batch() at the top of every entry.
var<private> bx: u32;   // c and x: b·q·n
var<private> bu: u32;   // uacc: b·q·q
var<private> bst: u32;  // status: b·4

fn batch(b: u32) {
  bx = b * params.q * params.n;
  bu = b * params.q * params.q;
  bst = b * 4u;
}

fn pair(round: u32, t: u32, qe: u32) -> vec2<u32> {
  let r = qe - 1u;
  if (t == 0u) { return vec2<u32>(r, round); }
  return vec2<u32>((round + t) % r, (round + r - t) % r);
}

// (c, s) of the rotation, or (1, 0) when the rows are already orthogonal to tolerance.
fn rotation(alpha: f32, beta: f32, gamma: f32) -> vec2<f32> {
  if (!(abs(gamma) > params.tol * sqrt(alpha) * sqrt(beta))) { return vec2<f32>(1.0, 0.0); }
  let zeta = (beta - alpha) / (2.0 * gamma);
  var t: f32;
  if (abs(zeta) > 1e15) {
    t = 0.5 / zeta;
  } else {
    t = sign(zeta) / (abs(zeta) + sqrt(1.0 + zeta * zeta));
    if (zeta == 0.0) { t = 1.0; }
  }
  let cs = inverseSqrt(1.0 + t * t);
  return vec2<f32>(cs, cs * t);
}

fn rotate_rows(a: u32, b: u32, cs: vec2<f32>, start: u32, stride: u32) {
  let n = params.n;
  for (var k = start; k < n; k += stride) {
    let xa = x[bx + a * n + k];
    let xb = x[bx + b * n + k];
    x[bx + a * n + k] = cs.x * xa - cs.y * xb;
    x[bx + b * n + k] = cs.y * xa + cs.x * xb;
  }
  if (WANT_U) {
    let q = params.q;
    for (var k = start; k < q; k += stride) {
      let ua = uacc[bu + a * q + k];
      let ub = uacc[bu + b * q + k];
      uacc[bu + a * q + k] = cs.x * ua - cs.y * ub;
      uacc[bu + b * q + k] = cs.y * ua + cs.x * ub;
    }
  }
}

@compute @workgroup_size(WG)
fn jacobi_init(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  batch(wid.z);
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let q = params.q;
  let n = params.n;
  if (i < q * n) {
    if (TRANS_IN) { x[bx + i] = c[bx + (i % n) * q + i / n]; } else { x[bx + i] = c[bx + i]; }
  }
  if (WANT_U && i < q * q) { uacc[bu + i] = select(0.0, 1.0, i / q == i % q); }
  if (i < 4u) { atomicStore(&status[bst + i], 0u); }
}

@compute @workgroup_size(WG)
fn jacobi_sweeps(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  batch(wid.z);
  let q = params.q;
  let n = params.n;
  let qe = q + (q & 1u);
  if (lid == 0u) { atomicStore(&rotations, 0u); }
  workgroupBarrier();
  var sweeps = 0u;
  var converged = 0u;
  for (var sweep = 0u; sweep < params.maxSweeps; sweep++) {
    for (var round = 0u; round + 1u < qe; round++) {
      for (var t = lid; t < qe / 2u; t += WG) {
        let p = pair(round, t, qe);
        if (p.x < q && p.y < q) {
          var alpha = 0.0;
          var beta = 0.0;
          var gamma = 0.0;
          for (var k = 0u; k < n; k++) {
            let xa = x[bx + p.x * n + k];
            let xb = x[bx + p.y * n + k];
            alpha += xa * xa;
            beta += xb * xb;
            gamma += xa * xb;
          }
          let cs = rotation(alpha, beta, gamma);
          if (cs.y != 0.0) {
            rotate_rows(p.x, p.y, cs, 0u, 1u);
            atomicAdd(&rotations, 1u);
          }
        }
      }
      storageBarrier();
    }
    workgroupBarrier();
    if (lid == 0u) {
      sweep_done = select(0u, 1u, atomicLoad(&rotations) == 0u);
      atomicStore(&rotations, 0u);
    }
    sweeps = sweep + 1u;
    if (workgroupUniformLoad(&sweep_done) != 0u) {
      converged = 1u;
      break;
    }
  }
  if (lid == 0u) {
    atomicStore(&status[bst + 1u], sweeps);
    atomicStore(&status[bst + 2u], converged);
  }
}

@compute @workgroup_size(WG)
fn jacobi_round(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  batch(wid.z);
  let q = params.q;
  let n = params.n;
  let qe = q + (q & 1u);
  let p = pair(params.round, wid.x, qe);
  if (p.x >= q || p.y >= q) { return; } // uniform: depends on the workgroup only
  var alpha = 0.0;
  var beta = 0.0;
  var gamma = 0.0;
  for (var k = lid; k < n; k += WG) {
    let xa = x[bx + p.x * n + k];
    let xb = x[bx + p.y * n + k];
    alpha += xa * xa;
    beta += xb * xb;
    gamma += xa * xb;
  }
  red[lid] = alpha;
  red[WG + lid] = beta;
  red[2u * WG + lid] = gamma;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      red[lid] += red[lid + stride];
      red[WG + lid] += red[WG + lid + stride];
      red[2u * WG + lid] += red[2u * WG + lid + stride];
    }
    workgroupBarrier();
  }
  let cs = rotation(red[0], red[WG], red[2u * WG]);
  if (cs.y == 0.0) { return; }
  rotate_rows(p.x, p.y, cs, lid, WG);
  if (lid == 0u) { atomicAdd(&status[bst], 1u); }
}

@compute @workgroup_size(1)
fn jacobi_reset(@builtin(workgroup_id) wid: vec3<u32>) {
  atomicStore(&status[wid.z * 4u], 0u);
}

@compute @workgroup_size(WG)
fn jacobi_extract(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  batch(wid.z);
  let q = params.q;
  let n = params.n;
  let keep = params.keep;
  let b = wid.z;
  let bs = b * keep;                                     // s
  let bo = b * keep * select(n, q, TRANS_OUT);           // vt [keep, n] (or [keep, q])
  let bw = b * keep * select(q, n, TRANS_OUT);           // u [q, keep] (or [n, keep])
  for (var i = lid; i < q; i += WG) {
    var acc = 0.0;
    for (var k = 0u; k < n; k++) {
      let v = x[bx + i * n + k];
      acc += v * v;
    }
    sigma[i] = sqrt(acc);
  }
  workgroupBarrier();
  for (var i = lid; i < q; i += WG) {
    let si = sigma[i];
    var rank = 0u;
    for (var j = 0u; j < q; j++) {
      let sj = sigma[j];
      if (sj > si || (sj == si && j < i)) { rank++; }
    }
    order[rank] = i;
  }
  workgroupBarrier();
  for (var k = lid; k < keep; k += WG) { s[bs + k] = sigma[order[k]]; }
  for (var e = lid; e < keep * n; e += WG) {
    let k = e / n;
    let col = e % n;
    let i = order[k];
    let si = sigma[i];
    let v = select(0.0, x[bx + i * n + col] / si, si > 0.0);
    if (TRANS_OUT) { u[bw + col * keep + k] = v; } else { vt[bo + k * n + col] = v; }
  }
  if (WANT_U) {
    for (var e = lid; e < q * keep; e += WG) {
      let row = e / keep;
      let k = e % keep;
      let val = uacc[bu + order[k] * q + row];
      if (TRANS_OUT) { vt[bo + k * q + row] = val; } else { u[bw + row * keep + k] = val; }
    }
  }
}
