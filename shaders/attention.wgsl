// Causal multi-head attention with grouped-query heads, as five generic kernels plus a KV-cache
// write. Layouts (row-major, heads side by side in the last dimension, no transposes anywhere):
//   rows  [B, T, H*D]       per-query-head tensors: q, dO (T query rows)
//   keys  [B, kvRows, KV*D] per-kv-head tensors: k, v (kvRows ≥ S rows; kvRows = maxT for a cache)
//   probs [B, H, T, S]      a matrix per (b, h) over (query i, key j): P, dP, dS
//   dst   read_write, the layout of whichever of these the entry point writes
// Query head h reads kv head h / (H/KV). Query row i sits at position offset + i and attends keys
// j ≤ offset + i (offset = 0 in training; the cache length before the new tokens when generating).
//
// How the op composes them (scale = 1/√D):
//   forward   P  = attn_scores(q, k, alpha = scale);  attn_softmax(P)  (in place)
//             O  = attn_mix(P, v)                      O_i = Σ_j P_ij v_j
//   backward  dS = attn_scores(dO, v, alpha = 1)      dP_ij = dO_i · v_j
//             attn_grad_softmax(dS, P, alpha = scale)  dS = scale · P ⊙ (dP − rowsum(P ⊙ dP))
//             dQ = attn_mix(dS, k)                     dQ_i = Σ_j dS_ij k_j
//             dK = attn_grad_kv(dS, q)                 dK_j = Σ_{h in group} Σ_i dS_ij q_i
//             dV = attn_grad_kv(P, dO)                 dV_j = Σ_{h in group} Σ_i P_ij dO_i
// Every output element is owned by one invocation that loops over its reduction in a fixed
// order, so there are no atomics and results are bit-for-bit repeatable (the GQA sums of dK, dV
// over query heads included). Masked entries of probs (j > offset + i) are written as 0 and never
// read by the sums, which stop at the mask.
//
// One invocation per output element (or per row for the two softmax kernels); workgroups on a
// 2-D grid, flat item e = (wid.y · nwg.x + wid.x) · WG + lid, overshoot dropped by e < n.
// Not done: a fused flash-attention kernel (P [B, H, T, S] is materialised), workgroup-memory
// tiling, padding masks, dropout, ALiBi or sliding windows.

struct Params { n: u32, T: u32, S: u32, kvRows: u32, offset: u32, H: u32, KV: u32, D: u32, alpha: f32 }

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> rows: array<f32>;   // [B, T, H*D]
@group(0) @binding(2) var<storage, read> keys: array<f32>;   // [B, kvRows, KV*D]
@group(0) @binding(3) var<storage, read> probs: array<f32>;  // [B, H, T, S]
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

fn item(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

fn kv_head(h: u32) -> u32 {
  return h / (params.H / params.KV);
}

// Last key row i may see (the mask), clamped to the row length.
fn last_key(i: u32) -> u32 {
  return min(params.offset + i, params.S - 1u);
}

// dst [B, H, T, S] = alpha · rows_i · keys_j over D, per (b, h, i, j); 0 where j > offset + i.
@compute @workgroup_size(WG)
fn attn_scores(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = item(wid, nwg, lid);
  if (e >= params.n) { return; }
  let j = e % params.S;
  let r = e / params.S;        // (b·H + h)·T + i
  let i = r % params.T;
  let bh = r / params.T;
  let h = bh % params.H;
  let b = bh / params.H;
  if (j > params.offset + i) {
    dst[e] = 0.0;
    return;
  }
  let D = params.D;
  let row = (b * params.T + i) * params.H * D + h * D;
  let key = (b * params.kvRows + j) * params.KV * D + kv_head(h) * D;
  var acc = 0.0;
  for (var d = 0u; d < D; d++) {
    acc = fma(rows[row + d], keys[key + d], acc);
  }
  dst[e] = params.alpha * acc;
}

// In place on dst [B, H, T, S]: each row i becomes softmax over its keys j ≤ offset + i (the
// masked tail stays 0). One invocation per row: max, then Σ exp, then scale.
@compute @workgroup_size(WG)
fn attn_softmax(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = item(wid, nwg, lid);
  if (r >= params.n) { return; }
  let base = r * params.S;
  let last = last_key(r % params.T);
  var m = dst[base];
  for (var j = 1u; j <= last; j++) { m = max(m, dst[base + j]); }
  var total = 0.0;
  for (var j = 0u; j <= last; j++) {
    let p = exp(dst[base + j] - m);
    dst[base + j] = p;
    total += p;
  }
  let inv = 1.0 / total;
  for (var j = 0u; j <= last; j++) { dst[base + j] *= inv; }
}

// In place on dst [B, H, T, S] holding dP, with probs = P: the softmax backward
//   dS_ij = alpha · P_ij (dP_ij − Σ_k P_ik dP_ik), one invocation per row.
@compute @workgroup_size(WG)
fn attn_grad_softmax(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = item(wid, nwg, lid);
  if (r >= params.n) { return; }
  let base = r * params.S;
  let last = last_key(r % params.T);
  var dot = 0.0;
  for (var j = 0u; j <= last; j++) { dot = fma(probs[base + j], dst[base + j], dot); }
  for (var j = 0u; j <= last; j++) {
    dst[base + j] = params.alpha * probs[base + j] * (dst[base + j] - dot);
  }
}

// dst [B, T, H*D] = alpha · Σ_{j ≤ offset+i} probs[b, h, i, j] · keys[b, j, kv(h), d].
@compute @workgroup_size(WG)
fn attn_mix(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = item(wid, nwg, lid);
  if (e >= params.n) { return; }
  let D = params.D;
  let d = e % D;
  let r = e / D;               // (b·T + i)·H + h
  let h = r % params.H;
  let bi = r / params.H;
  let i = bi % params.T;
  let b = bi / params.T;
  let p_base = ((b * params.H + h) * params.T + i) * params.S;
  let stride = params.KV * D;
  var key = b * params.kvRows * stride + kv_head(h) * D + d;
  var acc = 0.0;
  let last = last_key(i);
  for (var j = 0u; j <= last; j++) {
    acc = fma(probs[p_base + j], keys[key], acc);
    key += stride;
  }
  dst[e] = params.alpha * acc;
}

// dst [B, S, KV*D] = alpha · Σ_{h in group g} Σ_{i: offset+i ≥ j} probs[b, h, i, j] · rows[b, i, h, d]
// (the transposed product, summed over the H/KV query heads sharing kv head g).
@compute @workgroup_size(WG)
fn attn_grad_kv(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = item(wid, nwg, lid);
  if (e >= params.n) { return; }
  let D = params.D;
  let d = e % D;
  let r = e / D;               // (b·S + j)·KV + g
  let g = r % params.KV;
  let bj = r / params.KV;
  let j = bj % params.S;
  let b = bj / params.S;
  let group = params.H / params.KV;
  let first = select(0u, j - params.offset, j > params.offset);
  var acc = 0.0;
  for (var h = g * group; h < (g + 1u) * group; h++) {
    let p_base = (b * params.H + h) * params.T * params.S + j;
    for (var i = first; i < params.T; i++) {
      acc = fma(probs[p_base + i * params.S], rows[((b * params.T + i) * params.H + h) * D + d], acc);
    }
  }
  dst[e] = params.alpha * acc;
}

// KV-cache write: dst [B, kvRows, KV*D] rows offset .. offset+T−1 ← rows [B, T, KV*D]
// (here `rows` holds KV heads, not H).
@compute @workgroup_size(WG)
fn attn_cache_write(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = item(wid, nwg, lid);
  if (e >= params.n) { return; }
  let C = params.KV * params.D;
  let c = e % C;
  let bt = e / C;
  let t = bt % params.T;
  let b = bt / params.T;
  dst[(b * params.kvRows + params.offset + t) * C + c] = rows[e];
}
