// SPP's sparsity-preserving adapted linear layer (ADAPTERS.md, SPP), without ever building the
// adapted weight [out, in] during training:
//   W'_ij = W_ij · (1 + s · Wcol[i] · Wrow[k(i), j]),  k(i) = floor(i / block_rows),
//   block_rows = out / 16;  W [out, in] pruned and frozen, Wrow [16, in], Wcol [out].
// Every entry of W' is formed in registers where a kernel needs it, so a pruned zero of W can
// never become nonzero.
//
//   spp_forward   y [N, out] = x [N, in] · W'ᵀ (+ bias [out], HAS_BIAS). 4×4 register tile
//                 (4 tokens × 4 output rows) per invocation, no workgroup memory, no barriers
//                 (like matmul_registers); each row of the tile has its own block k(i).
//   spp_grad_x    dx [N, in] = G [N, out] · W' (G = ∂L/∂y), 4 tokens × 4 input columns per
//                 invocation, looping over the output rows.
//   spp_grad_col  partials [chunks, out] for ∂L/∂Wcol[i] = s Σ_n G[n, i] P[n, i] with
//                 P[n, i] = Σ_j x[n, j] W_ij Wrow[k(i), j] (= s Σ_j D_ij W_ij Wrow[k(i), j],
//                 D = Gᵀ x, regrouped so D is never formed). Invocation (4 rows i, chunk c of
//                 `chunk` tokens) computes P for 4 tokens × 4 rows at a time and sums G ⊙ P over
//                 its chunk's tokens.
//   spp_grad_row  partials [chunks, 16·in] for ∂L/∂Wrow[k, j] = s Σ_n x[n, j] Q_k[n, j] with
//                 Q_k[n, j] = Σ_{i in block k} G[n, i] Wcol[i] W_ij (= s Σ_{i∈k} D_ij W_ij Wcol[i]).
//                 Invocation (4 columns j, chunk c, block k = workgroup z).
//   column_sum    out[c] = alpha · Σ_p gy[p, c] (+ out[c] when beta = 1), gy [sum_rows, sum_cols]:
//                 folds the partials over chunks (alpha = s), and gives ∂L/∂bias = 1ᵀ G (alpha = 1).
//                 One invocation per column, sequential over rows: deterministic.
//   spp_merge     out [out, in] = W' (merging for export), with out = +0 exactly where W == 0
//                 (even if the factor were inf/NaN), so the zero pattern of W is kept bit-exactly.
//
// Tokens past N in a tile read a clamped (valid) row and are multiplied by 0 (partials) or
// dropped at the store (outputs); the same for rows/columns past the edge. `chunk` is a multiple
// of 4. Cost: forward and dx one matmul each plus 2 flops per W load (the tile reuses each W'
// value 4×); grad_col and grad_row one matmul each. Temporaries: partials of chunks·out and
// chunks·16·in floats (chunks = ceil(N / chunk)), never [out, in].

struct Params {
  tokens: u32,
  out_f: u32,
  in_f: u32,
  block_rows: u32,
  s: f32,
  chunk: u32,
  chunks: u32,
  sum_rows: u32,
  sum_cols: u32,
  alpha: f32,
  beta: f32,
}

override HAS_BIAS: bool = false;
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [N, in]
@group(0) @binding(2) var<storage, read> w: array<f32>;         // [out, in] pruned, frozen
@group(0) @binding(3) var<storage, read> wrow: array<f32>;      // [16, in]
@group(0) @binding(4) var<storage, read> wcol: array<f32>;      // [out]
@group(0) @binding(5) var<storage, read> bias: array<f32>;      // [out]
@group(0) @binding(6) var<storage, read> gy: array<f32>;        // G [N, out]; partials [sum_rows, sum_cols] (column_sum)
@group(0) @binding(7) var<storage, read_write> out: array<f32>; // y [N, out] | dx [N, in] | partials | [sum_cols] | W' [out, in]

// W'_ij given sc = s · Wcol[i]; k is i's block.
fn adapted(i: u32, j: u32, k: u32, sc: f32) -> f32 {
  return w[i * params.in_f + j] * (1.0 + sc * wrow[k * params.in_f + j]);
}

fn clamp4(first: u32, last: u32) -> vec4<u32> {
  return vec4<u32>(min(first, last), min(first + 1u, last), min(first + 2u, last), min(first + 3u, last));
}

// 1.0 for tokens n0 + r < N, else 0.0.
fn valid4(n0: u32) -> vec4<f32> {
  let n = vec4<u32>(n0, n0 + 1u, n0 + 2u, n0 + 3u);
  return select(vec4<f32>(0.0), vec4<f32>(1.0), n < vec4<u32>(params.tokens));
}

@compute @workgroup_size(8, 8, 1)
fn spp_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  // tile: tokens n0..n0+3 × output rows i0..i0+3
  let n0 = gid.y * 4u;
  let i0 = gid.x * 4u;
  if (n0 >= params.tokens || i0 >= params.out_f) { return; }
  let n = clamp4(n0, params.tokens - 1u);
  let i = clamp4(i0, params.out_f - 1u);
  let k = i / vec4<u32>(params.block_rows);
  let sc = params.s * vec4<f32>(wcol[i.x], wcol[i.y], wcol[i.z], wcol[i.w]);
  let in_f = params.in_f;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var j = 0u; j < in_f; j++) {
    let xv = vec4<f32>(x[n.x * in_f + j], x[n.y * in_f + j], x[n.z * in_f + j], x[n.w * in_f + j]);
    let wv = vec4<f32>(adapted(i.x, j, k.x, sc.x), adapted(i.y, j, k.y, sc.y), adapted(i.z, j, k.z, sc.z), adapted(i.w, j, k.w, sc.w));
    acc0 = fma(vec4<f32>(xv.x), wv, acc0);
    acc1 = fma(vec4<f32>(xv.y), wv, acc1);
    acc2 = fma(vec4<f32>(xv.z), wv, acc2);
    acc3 = fma(vec4<f32>(xv.w), wv, acc3);
  }
  let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var r = 0u; r < 4u; r++) {
    for (var c = 0u; c < 4u; c++) {
      let nn = n0 + r;
      let ii = i0 + c;
      if (nn < params.tokens && ii < params.out_f) {
        var value = rows[r][c];
        if (HAS_BIAS) { value += bias[ii]; }
        out[nn * params.out_f + ii] = value;
      }
    }
  }
}

@compute @workgroup_size(8, 8, 1)
fn spp_grad_x(@builtin(global_invocation_id) gid: vec3<u32>) {
  // tile: tokens n0..n0+3 × input columns j0..j0+3
  let n0 = gid.y * 4u;
  let j0 = gid.x * 4u;
  if (n0 >= params.tokens || j0 >= params.in_f) { return; }
  let n = clamp4(n0, params.tokens - 1u);
  let j = clamp4(j0, params.in_f - 1u);
  let out_f = params.out_f;
  let in_f = params.in_f;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var i = 0u; i < out_f; i++) {
    let k = i / params.block_rows;
    let sc = params.s * wcol[i];
    let gv = vec4<f32>(gy[n.x * out_f + i], gy[n.y * out_f + i], gy[n.z * out_f + i], gy[n.w * out_f + i]);
    let wv = vec4<f32>(adapted(i, j.x, k, sc), adapted(i, j.y, k, sc), adapted(i, j.z, k, sc), adapted(i, j.w, k, sc));
    acc0 = fma(vec4<f32>(gv.x), wv, acc0);
    acc1 = fma(vec4<f32>(gv.y), wv, acc1);
    acc2 = fma(vec4<f32>(gv.z), wv, acc2);
    acc3 = fma(vec4<f32>(gv.w), wv, acc3);
  }
  let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var r = 0u; r < 4u; r++) {
    for (var c = 0u; c < 4u; c++) {
      if (n0 + r < params.tokens && j0 + c < in_f) { out[(n0 + r) * in_f + j0 + c] = rows[r][c]; }
    }
  }
}

@compute @workgroup_size(8, 8, 1)
fn spp_grad_col(@builtin(global_invocation_id) gid: vec3<u32>) {
  // output rows i0..i0+3, tokens of chunk c
  let i0 = gid.x * 4u;
  let c = gid.y;
  if (i0 >= params.out_f || c >= params.chunks) { return; }
  let i = clamp4(i0, params.out_f - 1u);
  let k = i / vec4<u32>(params.block_rows);
  let out_f = params.out_f;
  let in_f = params.in_f;
  let start = c * params.chunk;
  let end = min(start + params.chunk, params.tokens);
  var total = vec4<f32>(0.0); // Σ_n G[n, i] P[n, i] over this chunk, for the 4 rows
  for (var n0 = start; n0 < end; n0 += 4u) {
    let n = clamp4(n0, params.tokens - 1u);
    // P[n0 + r, i0 + c] = Σ_j x[n0 + r, j] · W[i0 + c, j] · Wrow[k(i0 + c), j]
    var p0 = vec4<f32>(0.0);
    var p1 = vec4<f32>(0.0);
    var p2 = vec4<f32>(0.0);
    var p3 = vec4<f32>(0.0);
    for (var j = 0u; j < in_f; j++) {
      let xv = vec4<f32>(x[n.x * in_f + j], x[n.y * in_f + j], x[n.z * in_f + j], x[n.w * in_f + j]);
      let wv = vec4<f32>(
        w[i.x * in_f + j] * wrow[k.x * in_f + j],
        w[i.y * in_f + j] * wrow[k.y * in_f + j],
        w[i.z * in_f + j] * wrow[k.z * in_f + j],
        w[i.w * in_f + j] * wrow[k.w * in_f + j]);
      p0 = fma(vec4<f32>(xv.x), wv, p0);
      p1 = fma(vec4<f32>(xv.y), wv, p1);
      p2 = fma(vec4<f32>(xv.z), wv, p2);
      p3 = fma(vec4<f32>(xv.w), wv, p3);
    }
    let valid = valid4(n0);
    let g0 = valid.x * vec4<f32>(gy[n.x * out_f + i.x], gy[n.x * out_f + i.y], gy[n.x * out_f + i.z], gy[n.x * out_f + i.w]);
    let g1 = valid.y * vec4<f32>(gy[n.y * out_f + i.x], gy[n.y * out_f + i.y], gy[n.y * out_f + i.z], gy[n.y * out_f + i.w]);
    let g2 = valid.z * vec4<f32>(gy[n.z * out_f + i.x], gy[n.z * out_f + i.y], gy[n.z * out_f + i.z], gy[n.z * out_f + i.w]);
    let g3 = valid.w * vec4<f32>(gy[n.w * out_f + i.x], gy[n.w * out_f + i.y], gy[n.w * out_f + i.z], gy[n.w * out_f + i.w]);
    total += g0 * p0 + g1 * p1 + g2 * p2 + g3 * p3;
  }
  for (var r = 0u; r < 4u; r++) {
    if (i0 + r < out_f) { out[c * out_f + i0 + r] = total[r]; }
  }
}

@compute @workgroup_size(8, 8, 1)
fn spp_grad_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  // input columns j0..j0+3, tokens of chunk c, block k
  let j0 = gid.x * 4u;
  let c = gid.y;
  let k = gid.z;
  if (j0 >= params.in_f || c >= params.chunks) { return; }
  let j = clamp4(j0, params.in_f - 1u);
  let out_f = params.out_f;
  let in_f = params.in_f;
  let first_row = k * params.block_rows;
  let start = c * params.chunk;
  let end = min(start + params.chunk, params.tokens);
  var total = vec4<f32>(0.0); // Σ_n x[n, j] Q_k[n, j] over this chunk, for the 4 columns
  for (var n0 = start; n0 < end; n0 += 4u) {
    let n = clamp4(n0, params.tokens - 1u);
    // Q_k[n0 + r, j0 + c] = Σ_{i in block k} G[n0 + r, i] · Wcol[i] · W[i, j0 + c]
    var q0 = vec4<f32>(0.0);
    var q1 = vec4<f32>(0.0);
    var q2 = vec4<f32>(0.0);
    var q3 = vec4<f32>(0.0);
    for (var i = first_row; i < first_row + params.block_rows; i++) {
      let gv = wcol[i] * vec4<f32>(gy[n.x * out_f + i], gy[n.y * out_f + i], gy[n.z * out_f + i], gy[n.w * out_f + i]);
      let wv = vec4<f32>(w[i * in_f + j.x], w[i * in_f + j.y], w[i * in_f + j.z], w[i * in_f + j.w]);
      q0 = fma(vec4<f32>(gv.x), wv, q0);
      q1 = fma(vec4<f32>(gv.y), wv, q1);
      q2 = fma(vec4<f32>(gv.z), wv, q2);
      q3 = fma(vec4<f32>(gv.w), wv, q3);
    }
    let valid = valid4(n0);
    let x0 = valid.x * vec4<f32>(x[n.x * in_f + j.x], x[n.x * in_f + j.y], x[n.x * in_f + j.z], x[n.x * in_f + j.w]);
    let x1 = valid.y * vec4<f32>(x[n.y * in_f + j.x], x[n.y * in_f + j.y], x[n.y * in_f + j.z], x[n.y * in_f + j.w]);
    let x2 = valid.z * vec4<f32>(x[n.z * in_f + j.x], x[n.z * in_f + j.y], x[n.z * in_f + j.z], x[n.z * in_f + j.w]);
    let x3 = valid.w * vec4<f32>(x[n.w * in_f + j.x], x[n.w * in_f + j.y], x[n.w * in_f + j.z], x[n.w * in_f + j.w]);
    total += x0 * q0 + x1 * q1 + x2 * q2 + x3 * q3;
  }
  let base = c * 16u * in_f + k * in_f;
  for (var r = 0u; r < 4u; r++) {
    if (j0 + r < in_f) { out[base + j0 + r] = total[r]; }
  }
}

@compute @workgroup_size(WG)
fn column_sum(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let col = (wid.y * nwg.x + wid.x) * WG + lid;
  if (col >= params.sum_cols) { return; }
  var acc = 0.0;
  for (var p = 0u; p < params.sum_rows; p++) { acc += gy[p * params.sum_cols + col]; }
  var value = params.alpha * acc;
  if (params.beta != 0.0) { value += out[col]; }
  out[col] = value;
}

@compute @workgroup_size(WG)
fn spp_merge(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = (wid.y * nwg.x + wid.x) * WG + lid;
  if (e >= params.out_f * params.in_f) { return; }
  let i = e / params.in_f;
  let j = e % params.in_f;
  let merged = adapted(i, j, i / params.block_rows, params.s * wcol[i]);
  out[e] = select(merged, 0.0, w[e] == 0.0);
}
