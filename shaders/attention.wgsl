// Flash attention (Dao et al. 2022; FlashAttention-2, Dao 2023): causal, sliding-window,
// grouped-query attention, forward and backward, without ever forming P [B, H, T, S]. Plus the
// KV-cache write used by generation.
//
// Layouts (row-major, heads side by side in the last dimension, no transposes anywhere):
//   q, dout  [B, T, H*D]        query rows i (position offset + i), and dO = ∂L/∂O
//   k, v     [B, kvRows, KV*D]  key rows j < S (kvRows ≥ S; kvRows = maxT for a KV cache)
//   lse      [B, H, T]          L_i = log Σ_j exp(S_ij): the only thing forward saves
//   delta    [B, H, T]          Δ_i = dO_i · O_i (backward scratch)
//   dst      O or dq [B, T, H*D]; dk [B, S, KV*D]; the cache for attn_cache_write
//   dst2     dv [B, S, KV*D]
// Query head h reads kv head h / (H/KV). Query i sees key j iff j ≤ p and p − j < window, with
// p = offset + i (window = S when there is none).
//
// Math, per (b, h) with S_ij = scale · q_i · k_j on the visible keys:
//   forward  online softmax over blocks of KB keys, running max m and sum l per query row:
//            m' = max(m, max_block S),  l' = l·e^{m−m'} + Σ_block e^{S−m'},
//            acc' = acc·e^{m−m'} + Σ_block e^{S−m'} v_j;   O_i = acc / l,  L_i = m + log l.
//   backward Δ_i = dO_i · O_i (= Σ_j P_ij dP_ij), then with P_ij = exp(S_ij − L_i) recomputed,
//            dP_ij = dO_i · v_j and dS_ij = P_ij (dP_ij − Δ_i):
//            dq_i = scale Σ_j dS_ij k_j,  dk_j = scale Σ_{h,i} dS_ij q_i,  dv_j = Σ_{h,i} P_ij dO_i,
//            the dk, dv sums running over the H/KV query heads h sharing kv head g.
//   Order: attn_delta, then attn_query_grad and attn_key_grad (both read delta).
//
// Invocation mapping, barrier-free (workgroup barriers are very slow on SwiftShader): each
// invocation owns a tile of 4 rows held as the lanes of vec4s, so every key (or query) element
// loaded from memory feeds 4 rows. attn_forward and attn_query_grad: 4 consecutive query rows
// of one (b, h), looping over the keys any of them sees (masking per lane); attn_key_grad: 4
// consecutive key rows of one (b, g), looping over the group's heads and the query rows that see
// any of them. A short last tile repeats its last row in the spare lanes and writes only real
// rows. Flat item e = (wid.y · nwg.x + wid.x) · WG + lid on a 2-D grid; adjacent e are adjacent
// tiles of one head, so neighbouring invocations stream the same rows. Every output is one
// invocation's fixed-order sum: deterministic, no atomics (the GQA sums of dk, dv included).
//
// D is bounded by MAXD, a compile-time constant the wrapper replaces per variant (32, 64, 128,
// 256); loops run to the real D. Private memory per invocation: 2 (forward), 3 (dq) or 4 (dk, dv)
// arrays of vec4<f32>[MAXD], at most 16 KiB at D = 256.
// Not done: a workgroup-memory-tiled variant for real GPUs (where 16 KiB of private rows spill),
// split-key decoding (a one-token query runs B·H invocations), padding masks, dropout, ALiBi,
// logit soft-capping.

struct Params { n: u32, T: u32, S: u32, kvRows: u32, offset: u32, H: u32, KV: u32, D: u32, window: u32, scale: f32 }

override WG: u32 = 64u;
const MAXD: u32 = 64u;
const KB: u32 = 16u;
// Start value of the running max: finite, so e^{m − m'} is 0, never NaN from −∞ − (−∞).
const LOWEST: f32 = -3.0e38;
const LANES = vec4<u32>(0u, 1u, 2u, 3u);

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;            // [B, T, H*D] (O in attn_delta)
@group(0) @binding(2) var<storage, read> k: array<f32>;            // [B, kvRows, KV*D]
@group(0) @binding(3) var<storage, read> v: array<f32>;            // [B, kvRows, KV*D]
@group(0) @binding(4) var<storage, read> dout: array<f32>;         // [B, T, H*D]
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;    // [B, H, T]
@group(0) @binding(6) var<storage, read_write> delta: array<f32>;  // [B, H, T]
@group(0) @binding(7) var<storage, read_write> dst: array<f32>;
@group(0) @binding(8) var<storage, read_write> dst2: array<f32>;

fn item(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// First visible key of the query at position p: p − j < window.
fn first_key(p: u32) -> u32 {
  return select(0u, p + 1u - params.window, p + 1u > params.window);
}

// Per lane: does the query at position p see the key at position j?
fn visible(j: vec4<u32>, p: vec4<u32>) -> vec4<bool> {
  return (j <= p) & (p - j < vec4<u32>(params.window));
}

// Element offsets of a tile's 4 rows from its first, `stride` apart; lanes past the `rows` real
// rows repeat the last one.
fn lane_steps(rows: u32, stride: u32) -> vec4<u32> {
  return min(LANES, vec4<u32>(rows - 1u)) * stride;
}

fn q4(at: u32, step: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(q[at], q[at + step.y], q[at + step.z], q[at + step.w]);
}

fn dout4(at: u32, step: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(dout[at], dout[at + step.y], dout[at + step.z], dout[at + step.w]);
}

fn k4(at: u32, step: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(k[at], k[at + step.y], k[at + step.z], k[at + step.w]);
}

fn v4(at: u32, step: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(v[at], v[at + step.y], v[at + step.z], v[at + step.w]);
}

// 4 query rows i0 .. i0+3 of head h in batch b; n = B·H·⌈T/4⌉ tiles.
struct QueryTile {
  stat: u32,       // lse/delta index of row i0: (b·H + h)·T + i0
  rows: u32,       // real rows, 1..4
  row: u32,        // element offset of row i0 in q, dout, O, dq
  step: vec4<u32>, // lane offsets from `row`
  keys: u32,       // element offset of key row 0 of kv head h / (H/KV)
  p: vec4<u32>,    // positions offset + i0 + lane
}

fn query_tile(e: u32) -> QueryTile {
  let tiles = (params.T + 3u) / 4u;
  let bh = e / tiles;
  let i0 = (e % tiles) * 4u;
  let rows = min(4u, params.T - i0);
  let h = bh % params.H;
  let b = bh / params.H;
  let D = params.D;
  let row = ((b * params.T + i0) * params.H + h) * D;
  let keys = b * params.kvRows * params.KV * D + (h / (params.H / params.KV)) * D;
  return QueryTile(bh * params.T + i0, rows, row, lane_steps(rows, params.H * D), keys, vec4<u32>(params.offset + i0) + LANES);
}

// Per-row statistics of a tile's 4 lanes (spare lanes repeat the last row).
fn stat_index(t: QueryTile) -> vec4<u32> {
  return vec4<u32>(t.stat) + min(LANES, vec4<u32>(t.rows - 1u));
}

fn lse4(t: QueryTile) -> vec4<f32> {
  let at = stat_index(t);
  return vec4<f32>(lse[at.x], lse[at.y], lse[at.z], lse[at.w]);
}

fn delta4(t: QueryTile) -> vec4<f32> {
  let at = stat_index(t);
  return vec4<f32>(delta[at.x], delta[at.y], delta[at.z], delta[at.w]);
}

// O [B, T, H*D] → dst, L [B, H, T] → lse; one QueryTile per invocation.
@compute @workgroup_size(WG)
fn attn_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = item(wid, nwg, lid);
  if (e >= params.n) { return; }
  let t = query_tile(e);
  let D = params.D;
  let stride = params.KV * D;
  var qs: array<vec4<f32>, MAXD>;
  var acc: array<vec4<f32>, MAXD>;
  for (var d = 0u; d < D; d++) { qs[d] = params.scale * q4(t.row + d, t.step); }
  var s: array<vec4<f32>, KB>;
  var m = vec4<f32>(LOWEST);
  var l = vec4<f32>(0.0);
  let last = t.p.x + t.rows - 1u;
  for (var j0 = first_key(t.p.x); j0 <= last; j0 += KB) {
    let count = min(KB, last + 1u - j0);
    var m_new = m;
    for (var u = 0u; u < count; u++) {
      let key = t.keys + (j0 + u) * stride;
      var dot = vec4<f32>(0.0);
      for (var d = 0u; d < D; d++) { dot = fma(qs[d], vec4<f32>(k[key + d]), dot); }
      s[u] = dot;
      m_new = max(m_new, select(vec4<f32>(LOWEST), dot, visible(vec4<u32>(j0 + u), t.p)));
    }
    let correction = exp(m - m_new);
    l *= correction;
    for (var d = 0u; d < D; d++) { acc[d] *= correction; }
    for (var u = 0u; u < count; u++) {
      let w = select(vec4<f32>(0.0), exp(s[u] - m_new), visible(vec4<u32>(j0 + u), t.p));
      l += w;
      let val = t.keys + (j0 + u) * stride;
      for (var d = 0u; d < D; d++) { acc[d] = fma(w, vec4<f32>(v[val + d]), acc[d]); }
    }
    m = m_new;
  }
  let inv = 1.0 / l;
  let L = m + log(l);
  for (var r = 0u; r < t.rows; r++) {
    for (var d = 0u; d < D; d++) { dst[t.row + t.step[r] + d] = acc[d][r] * inv[r]; }
    lse[t.stat + r] = L[r];
  }
}

// delta [B, H, T] = rowsum(dout ⊙ O), with O bound as `q`; one query row r = (b·H + h)·T + i
// per invocation, n = B·H·T.
@compute @workgroup_size(WG)
fn attn_delta(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = item(wid, nwg, lid);
  if (r >= params.n) { return; }
  let i = r % params.T;
  let bh = r / params.T;
  let D = params.D;
  let row = ((bh / params.H * params.T + i) * params.H + bh % params.H) * D;
  var dot = 0.0;
  for (var d = 0u; d < D; d++) { dot = fma(dout[row + d], q[row + d], dot); }
  delta[r] = dot;
}

// dq [B, T, H*D] → dst; one QueryTile per invocation.
@compute @workgroup_size(WG)
fn attn_query_grad(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = item(wid, nwg, lid);
  if (e >= params.n) { return; }
  let t = query_tile(e);
  let D = params.D;
  let stride = params.KV * D;
  var qs: array<vec4<f32>, MAXD>;
  var go: array<vec4<f32>, MAXD>;
  var dq: array<vec4<f32>, MAXD>;
  for (var d = 0u; d < D; d++) {
    qs[d] = params.scale * q4(t.row + d, t.step);
    go[d] = dout4(t.row + d, t.step);
  }
  let L = lse4(t);
  let Dl = delta4(t);
  let last = t.p.x + t.rows - 1u;
  for (var j = first_key(t.p.x); j <= last; j++) {
    let key = t.keys + j * stride;
    var s = vec4<f32>(0.0);
    var dp = vec4<f32>(0.0);
    for (var d = 0u; d < D; d++) {
      s = fma(qs[d], vec4<f32>(k[key + d]), s);
      dp = fma(go[d], vec4<f32>(v[key + d]), dp);
    }
    let ds = select(vec4<f32>(0.0), exp(s - L) * (dp - Dl), visible(vec4<u32>(j), t.p));
    for (var d = 0u; d < D; d++) { dq[d] = fma(ds, vec4<f32>(k[key + d]), dq[d]); }
  }
  for (var r = 0u; r < t.rows; r++) {
    for (var d = 0u; d < D; d++) { dst[t.row + t.step[r] + d] = params.scale * dq[d][r]; }
  }
}

// dk → dst, dv → dst2 [B, S, KV*D]: 4 key rows j0 .. j0+3 of kv head g per invocation,
// n = B·KV·⌈S/4⌉.
@compute @workgroup_size(WG)
fn attn_key_grad(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = item(wid, nwg, lid);
  if (e >= params.n) { return; }
  let tiles = (params.S + 3u) / 4u;
  let j0 = (e % tiles) * 4u;
  let bg = e / tiles;
  let g = bg % params.KV;
  let b = bg / params.KV;
  let D = params.D;
  let rows = min(4u, params.S - j0);
  let step = lane_steps(rows, params.KV * D);
  let key = (b * params.kvRows + j0) * params.KV * D + g * D;
  var ks: array<vec4<f32>, MAXD>;
  var vs: array<vec4<f32>, MAXD>;
  var dk: array<vec4<f32>, MAXD>;
  var dv: array<vec4<f32>, MAXD>;
  for (var d = 0u; d < D; d++) {
    ks[d] = params.scale * k4(key + d, step);
    vs[d] = v4(key + d, step);
  }
  let j = vec4<u32>(j0) + LANES; // spare lanes are ≥ S: no query sees them
  // Query rows that see any of the tile's keys: j0 ≤ offset + i < j0 + rows − 1 + window.
  let first = select(0u, j0 - params.offset, j0 > params.offset);
  let reach = j0 + rows - 1u + params.window;
  let end = min(params.T, select(0u, reach - params.offset, reach > params.offset));
  let group = params.H / params.KV;
  for (var h = g * group; h < (g + 1u) * group; h++) {
    for (var i = first; i < end; i++) {
      let r = (b * params.H + h) * params.T + i;
      let row = ((b * params.T + i) * params.H + h) * D;
      var s = vec4<f32>(0.0);
      var dp = vec4<f32>(0.0);
      for (var d = 0u; d < D; d++) {
        s = fma(ks[d], vec4<f32>(q[row + d]), s);
        dp = fma(vs[d], vec4<f32>(dout[row + d]), dp);
      }
      let prob = select(vec4<f32>(0.0), exp(s - lse[r]), visible(j, vec4<u32>(params.offset + i)));
      let ds = prob * (dp - delta[r]);
      for (var d = 0u; d < D; d++) {
        dv[d] = fma(prob, vec4<f32>(dout[row + d]), dv[d]);
        dk[d] = fma(ds, vec4<f32>(q[row + d]), dk[d]);
      }
    }
  }
  for (var r = 0u; r < rows; r++) {
    let at = (b * params.S + j0 + r) * params.KV * D + g * D;
    for (var d = 0u; d < D; d++) {
      dst[at + d] = params.scale * dk[d][r];
      dst2[at + d] = dv[d][r];
    }
  }
}

// KV-cache write: dst [B, kvRows, KV*D] rows offset .. offset+T−1 ← k [B, T, KV*D] (here `k`
// holds the T new rows, not the cache); n = B·T·KV·D.
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
  dst[(b * params.kvRows + params.offset + t) * C + c] = k[e];
}
