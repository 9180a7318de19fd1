// Mean cross-entropy of logits [N, V] against targets [N] (i32), and its gradient:
//   loss = (1/count) Σ over counted rows n of −log softmax(logits[n])[targets[n]],   loss [1]
//   count = #{n : 0 ≤ targets[n] < V}; a row with any other target (−100 = ignore, PyTorch's
//   ignore_index, but also every other out-of-range value: nothing is validated on the GPU) is not
//   counted and contributes 0 to the loss and to the gradient. count = 0 gives loss 0, gradient 0.
//   ∂L/∂logits[n, v] = gy · (softmax(logits[n])[v] − [v = targets[n]]) / count for counted rows.
//
// Row blocks: one dispatch may cover only rows [row0, row0 + N) of the `total` rows of targets and
// saved, with logits [N, V] holding just that block (lmHeadLoss computes the logits a chunk of rows
// at a time and never holds all of them). The plain op uses row0 = 0, N = total.
//
// Four entry points, all sharing one binding set (unused ones are bound to something harmless):
//   ce_rows      one workgroup per row: row max m (reduction), s = Σ exp(x − m) (reduction),
//                rowLoss = log s − (x[target] − m). Subtracting the row max keeps exp() in range
//                for any logits (±80 included). Loops over V in strides of WG, so V = 50257 is fine.
//   ce_finalize  one workgroup: Σ rowLoss and count over all `total` rows (strided, then a tree),
//                loss = Σ/count.
//   ce_backward  one invocation per element of the logits block: exp(x − m)/s − onehot, times
//                gy/count, into out. The softmax is rebuilt from m and s rather than from
//                lse = m + log s: x − lse would round to ulp(lse) (≈ 1e-5 for logits near 80)
//                before exp() magnifies it.
//   ce_backward_inplace  the same, reading x from out itself: out holds the logits block on
//                entry and its gradient on exit, so backward needs one [N, V] buffer, not two.
//   ce_rows_serial, ce_finalize_serial  the results of ce_rows and ce_finalize from one invocation
//                per row (ROW_WG rows per workgroup) and one invocation in all, looping in registers:
//                no workgroup memory, no barriers. For software adapters (SwiftShader), where
//                the barriers of the tree reductions cost far more than the loops they save. The
//                row loops keep four partial maxima / sums (vec4 lanes over v mod 4), combined
//                pairwise at the end.
// No float atomics anywhere: results are bit-for-bit repeatable.
//
// saved [3·total + 1]: m at [0, total), s at [total, 2·total), rowLoss at [2·total, 3·total),
// count at [3·total] (as f32), all indexed by the global row r = row0 + n.
// Grids: rows and backward use 2-D workgroup grids (see elementwise.wgsl; ce_rows_serial: row
// n = (wid.y · nwg.x + wid.x) · ROW_WG + lid); the backward index
// i = n·V + v within the block must fit a u32 (N·V < 2^32: e.g. 85 000 rows at V = 50257).

struct Params { N: u32, V: u32, row0: u32, total: u32 }

override WG: u32 = 256u; // a power of two
override ROW_WG: u32 = 16u; // rows per workgroup of ce_rows_serial

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;      // [N, V] (rows row0.. of the whole)
@group(0) @binding(2) var<storage, read> targets: array<i32>;     // [total]
@group(0) @binding(3) var<storage, read> gy: array<f32>;          // [1] (backward; else unused)
@group(0) @binding(4) var<storage, read_write> saved: array<f32>; // [3·total + 1], layout above
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // finalize: loss [1]; backward: dlogits [N, V]

var<workgroup> partial: array<f32, WG>;
var<workgroup> partial2: array<f32, WG>;

// r is a global row (index into targets and saved).
fn counted(r: u32) -> bool {
  let t = targets[r];
  return t >= 0 && u32(t) < params.V;
}

@compute @workgroup_size(WG)
fn ce_rows(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = wid.y * nwg.x + wid.x;
  if (n >= params.N) { return; } // uniform per workgroup, so the barriers below stay legal
  let V = params.V;
  let base = n * V;
  // Row max; each invocation starts from a real element (no -inf literal in WGSL).
  var mx = logits[base + min(lid, V - 1u)];
  for (var v = lid; v < V; v += WG) { mx = max(mx, logits[base + v]); }
  partial[lid] = mx;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] = max(partial[lid], partial[lid + stride]); }
    workgroupBarrier();
  }
  let m = partial[0];
  workgroupBarrier(); // everyone has read partial[0] before it is overwritten below
  var s = 0.0;
  for (var v = lid; v < V; v += WG) { s += exp(logits[base + v] - m); }
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] = partial[lid] + partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let sumExp = partial[0]; // ≥ 1: the max element contributes exp(0)
    let r = params.row0 + n;
    saved[r] = m;
    saved[params.total + r] = sumExp;
    var rowLoss = 0.0;
    if (counted(r)) { rowLoss = log(sumExp) - (logits[base + u32(targets[r])] - m); }
    saved[2u * params.total + r] = rowLoss;
  }
}

fn logits4(i: u32) -> vec4<f32> { return vec4<f32>(logits[i], logits[i + 1u], logits[i + 2u], logits[i + 3u]); }

@compute @workgroup_size(ROW_WG)
fn ce_rows_serial(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = (wid.y * nwg.x + wid.x) * ROW_WG + lid;
  if (n >= params.N) { return; }
  let V = params.V;
  let base = n * V;
  let V4 = V & ~3u; // the part of the row covered by whole vec4 steps
  // Row max: starts from the row's first element (no -inf literal in WGSL); max is exact in any order.
  var mx4 = vec4<f32>(logits[base]);
  for (var v = 0u; v < V4; v += 4u) { mx4 = max(mx4, logits4(base + v)); }
  var m = max(max(mx4.x, mx4.y), max(mx4.z, mx4.w));
  for (var v = V4; v < V; v++) { m = max(m, logits[base + v]); }
  var s4 = vec4<f32>(0.0);
  for (var v = 0u; v < V4; v += 4u) { s4 += exp(logits4(base + v) - m); }
  var sumExp = (s4.x + s4.y) + (s4.z + s4.w);
  for (var v = V4; v < V; v++) { sumExp += exp(logits[base + v] - m); }
  let r = params.row0 + n;
  saved[r] = m;
  saved[params.total + r] = sumExp; // ≥ 1: the max element contributes exp(0)
  var rowLoss = 0.0;
  if (counted(r)) { rowLoss = log(sumExp) - (logits[base + u32(targets[r])] - m); }
  saved[2u * params.total + r] = rowLoss;
}

@compute @workgroup_size(1)
fn ce_finalize_serial() {
  let total = params.total;
  let losses = 2u * total;
  let total4 = total & ~3u;
  var sum4 = vec4<f32>(0.0);
  for (var r = 0u; r < total4; r += 4u) {
    sum4 += vec4<f32>(saved[losses + r], saved[losses + r + 1u], saved[losses + r + 2u], saved[losses + r + 3u]);
  }
  var sum = (sum4.x + sum4.y) + (sum4.z + sum4.w);
  for (var r = total4; r < total; r++) { sum += saved[losses + r]; }
  var count = 0.0; // exact: integers below 2^24
  for (var r = 0u; r < total; r++) {
    if (counted(r)) { count += 1.0; }
  }
  var loss = 0.0;
  if (count > 0.0) { loss = sum / count; }
  out[0] = loss;
  saved[3u * total] = count;
}

@compute @workgroup_size(WG)
fn ce_finalize(@builtin(local_invocation_index) lid: u32) {
  let total = params.total;
  var sum = 0.0;
  var count = 0.0;
  for (var r = lid; r < total; r += WG) {
    sum += saved[2u * total + r];
    if (counted(r)) { count += 1.0; }
  }
  partial[lid] = sum;
  partial2[lid] = count;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      partial[lid] = partial[lid] + partial[lid + stride];
      partial2[lid] = partial2[lid] + partial2[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let c = partial2[0]; // exact: integers below 2^24
    var loss = 0.0;
    if (c > 0.0) { loss = partial[0] / c; }
    out[0] = loss;
    saved[3u * total] = c;
  }
}

// ∂L/∂x for element i = n·V + v of the block, whose logit is x.
fn grad_at(i: u32, x: f32) -> f32 {
  let n = i / params.V;
  let v = i - n * params.V;
  let r = params.row0 + n;
  let total = params.total;
  if (!counted(r)) { return 0.0; }
  let p = exp(x - saved[r]) / saved[total + r];
  var onehot = 0.0;
  if (u32(targets[r]) == v) { onehot = 1.0; }
  return (p - onehot) * (gy[0] / max(saved[3u * total], 1.0));
}

@compute @workgroup_size(WG)
fn ce_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= params.N * params.V) { return; }
  out[i] = grad_at(i, logits[i]);
}

@compute @workgroup_size(WG)
fn ce_backward_inplace(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= params.N * params.V) { return; }
  out[i] = grad_at(i, out[i]);
}
