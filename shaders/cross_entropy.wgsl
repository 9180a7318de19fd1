// Mean cross-entropy of logits [N, V] against targets [N] (i32), and its gradient:
//   loss = (1/count) Σ over counted rows n of −log softmax(logits[n])[targets[n]],   loss [1]
//   count = #{n : 0 ≤ targets[n] < V}; a row with any other target (−100 = ignore, PyTorch's
//   ignore_index, but also every other out-of-range value: nothing is validated on the GPU) is not
//   counted and contributes 0 to the loss and to the gradient. count = 0 gives loss 0, gradient 0.
//   ∂L/∂logits[n, v] = gy · (softmax(logits[n])[v] − [v = targets[n]]) / count for counted rows.
//
// Three entry points, all sharing one binding set (unused ones are bound to something harmless):
//   ce_rows      one workgroup per row: row max m (reduction), s = Σ exp(x − m) (reduction),
//                rowLoss = log s − (x[target] − m). Subtracting the row max keeps exp() in range
//                for any logits (±80 included). Loops over V in strides of WG, so V = 50257 is fine.
//   ce_finalize  one workgroup: Σ rowLoss and count over N (strided, then a tree), loss = Σ/count.
//   ce_backward  one invocation per element of logits: exp(x − m)/s − onehot, times gy/count. The
//                softmax is rebuilt from m and s rather than from lse = m + log s: x − lse would
//                round to ulp(lse) (≈ 1e-5 for logits near 80) before exp() magnifies it.
// No float atomics anywhere: results are bit-for-bit repeatable.
//
// saved [3N + 1]: m at [0, N), s at [N, 2N), rowLoss at [2N, 3N), count at [3N] (as f32).
// Grids: rows and backward use 2-D workgroup grids (see elementwise.wgsl); the backward index
// i = n·V + v must fit a u32 (N·V < 2^32: e.g. 85 000 tokens at V = 50257).

struct Params { N: u32, V: u32 }

override WG: u32 = 256u; // a power of two

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;      // [N, V]
@group(0) @binding(2) var<storage, read> targets: array<i32>;     // [N]
@group(0) @binding(3) var<storage, read> gy: array<f32>;          // [1] (backward; else unused)
@group(0) @binding(4) var<storage, read_write> saved: array<f32>; // [3N + 1], layout above
@group(0) @binding(5) var<storage, read_write> out: array<f32>;   // finalize: loss [1]; backward: dlogits [N, V]

var<workgroup> partial: array<f32, WG>;
var<workgroup> partial2: array<f32, WG>;

fn counted(n: u32) -> bool {
  let t = targets[n];
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
    let total = partial[0]; // ≥ 1: the max element contributes exp(0)
    saved[n] = m;
    saved[params.N + n] = total;
    var rowLoss = 0.0;
    if (counted(n)) { rowLoss = log(total) - (logits[base + u32(targets[n])] - m); }
    saved[2u * params.N + n] = rowLoss;
  }
}

@compute @workgroup_size(WG)
fn ce_finalize(@builtin(local_invocation_index) lid: u32) {
  let N = params.N;
  var sum = 0.0;
  var count = 0.0;
  for (var n = lid; n < N; n += WG) {
    sum += saved[2u * N + n];
    if (counted(n)) { count += 1.0; }
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
    saved[3u * N] = c;
  }
}

@compute @workgroup_size(WG)
fn ce_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let N = params.N;
  let V = params.V;
  if (i >= N * V) { return; }
  let n = i / V;
  let v = i - n * V;
  var grad = 0.0;
  if (counted(n)) {
    let p = exp(logits[i] - saved[n]) / saved[N + n];
    var onehot = 0.0;
    if (u32(targets[n]) == v) { onehot = 1.0; }
    grad = (p - onehot) * (gy[0] / max(saved[3u * N], 1.0));
  }
  out[i] = grad;
}
