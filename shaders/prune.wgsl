// Pruning masks for a linear weight W [out, in] row-major (SPP's pruned base), computed per
// output row, and the activation statistics Wanda needs.
//
// Score of entry (i, j): |W_ij| (magnitude) or |W_ij| · ‖X_j‖₂ (Wanda, WANDA = true, norms [in]).
// Scores are non-negative f32, so their bit patterns (sign bit cleared, which also folds −0 into
// +0) order like the floats: comparisons and the radix select below work on u32 bits. Entries are
// ordered by (score, column) ascending, i.e. among equal scores the LOWER column is pruned first:
// the same order as Wanda's `torch.sort(metric, stable=True)[:, :k]`. NaN scores sort above +inf.
//
//   prune_unstructured  one workgroup per row: zero the k lowest-ordered entries of the row.
//     Radix select of the k-th smallest score bits, 8 bits per pass (4 passes): a 256-bin
//     histogram (workgroup atomics) of the candidates that share the prefix found so far, then
//     invocation 0 walks the bins to the one holding the k-th. That gives the threshold score T
//     and how many entries equal to T are pruned (t). A last pass gives each invocation a
//     contiguous block of columns, counts the entries equal to T per block, scans those counts
//     (invocation 0), and writes the row: score < T → 0, score > T → W, score = T → 0 for the
//     first t such columns, W after. 4·3 + 2 barriers per row whatever `in` is; k = 0 is the
//     wrapper's job (a copy).
//   prune_nm            one invocation per element: its rank (same order) within its group of
//     `group` = M consecutive columns; ranks < k = M − N are zeroed. No barriers.
//   accumulate_squares  acc[j] += Σ_n x[n, j]², x [rows, cols], one invocation per column j,
//     a sequential sum over rows (deterministic; error ~ rows·ε relative, fine for a pruning score).
//   input_norms         out[j] = sqrt(x[j]) (the accumulated squares → ‖X_j‖₂).
//
// Row index and flat element index come from a 2-D workgroup grid (wid.y · nwg.x + wid.x), as
// in elementwise.wgsl, so more than 65535 rows or groups fit.

struct Params { rows: u32, cols: u32, k: u32, group: u32 }

override WANDA: bool = false;
override WG: u32 = 64u; // ≤ 256 (the size of chunk_counts)

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;            // [rows, cols] (prune)
@group(0) @binding(2) var<storage, read> norms: array<f32>;        // [cols], WANDA only
@group(0) @binding(3) var<storage, read> x: array<f32>;            // [rows, cols] activations; [cols] squares (input_norms)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;    // [rows, cols] pruned W; [cols] acc / norms

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> chunk_counts: array<u32, 256>;
var<workgroup> sel_prefix: u32;
var<workgroup> sel_k: u32;

// Order-preserving u32 key of the score of w[index] (column j).
fn score_bits(index: u32, j: u32) -> u32 {
  var s = abs(w[index]);
  if (WANDA) { s = s * norms[j]; }
  return bitcast<u32>(s) & 0x7fffffffu;
}

@compute @workgroup_size(WG)
fn prune_unstructured(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; } // uniform per workgroup, so the barriers below stay legal
  let cols = params.cols;
  let base = row * cols;
  if (lid == 0u) {
    sel_prefix = 0u;
    sel_k = params.k; // 1-based rank of the wanted score among the current candidates
  }
  for (var digit = 0u; digit < 4u; digit++) {
    let shift = 24u - 8u * digit;
    for (var b = lid; b < 256u; b += WG) { atomicStore(&hist[b], 0u); }
    workgroupBarrier();
    let prefix = sel_prefix;
    // Candidates agree with the prefix on the digits above this one (none in pass 0).
    var high_mask = 0u;
    if (digit > 0u) { high_mask = 0xffffffffu << (shift + 8u); }
    for (var j = lid; j < cols; j += WG) {
      let s = score_bits(base + j, j);
      if ((s & high_mask) == prefix) { atomicAdd(&hist[(s >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    if (lid == 0u) {
      var remaining = sel_k;
      var bin = 0u;
      loop {
        let count = atomicLoad(&hist[bin]);
        if (remaining <= count || bin == 255u) { break; }
        remaining -= count;
        bin++;
      }
      sel_prefix = prefix | (bin << shift);
      sel_k = remaining;
    }
    workgroupBarrier();
  }
  let threshold = sel_prefix;  // score bits of the k-th smallest entry
  let ties_pruned = sel_k;     // entries with exactly this score that are pruned, lowest columns first

  let chunk = (cols + WG - 1u) / WG;
  let start = min(lid * chunk, cols);
  let end = min(start + chunk, cols);
  var equal = 0u;
  for (var j = start; j < end; j++) {
    if (score_bits(base + j, j) == threshold) { equal++; }
  }
  chunk_counts[lid] = equal;
  workgroupBarrier();
  if (lid == 0u) {
    var running = 0u;
    for (var t = 0u; t < WG; t++) {
      let c = chunk_counts[t];
      chunk_counts[t] = running;
      running += c;
    }
  }
  workgroupBarrier();
  var rank = chunk_counts[lid]; // equal entries in columns before this block
  for (var j = start; j < end; j++) {
    let s = score_bits(base + j, j);
    var keep = s > threshold;
    if (s == threshold) {
      keep = rank >= ties_pruned;
      rank++;
    }
    out[base + j] = select(0.0, w[base + j], keep);
  }
}

@compute @workgroup_size(WG)
fn prune_nm(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let e = (wid.y * nwg.x + wid.x) * WG + lid;
  if (e >= params.rows * params.cols) { return; }
  let j = e % params.cols;
  let row_base = e - j;
  let g0 = j - j % params.group;
  let s = score_bits(e, j);
  var rank = 0u;
  for (var t = g0; t < g0 + params.group; t++) {
    let st = score_bits(row_base + t, t);
    if (st < s || (st == s && t < j)) { rank++; }
  }
  out[e] = select(0.0, w[e], rank >= params.k);
}

@compute @workgroup_size(WG)
fn accumulate_squares(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let j = (wid.y * nwg.x + wid.x) * WG + lid;
  if (j >= params.cols) { return; }
  var acc = 0.0;
  for (var n = 0u; n < params.rows; n++) {
    let v = x[n * params.cols + j];
    acc = fma(v, v, acc);
  }
  out[j] += acc;
}

@compute @workgroup_size(WG)
fn input_norms(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let j = (wid.y * nwg.x + wid.x) * WG + lid;
  if (j >= params.cols) { return; }
  out[j] = sqrt(x[j]);
}
