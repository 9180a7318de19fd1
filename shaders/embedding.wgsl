// Token embedding lookup and its gradient, ids [N] (u32), table [V, C] row-major:
//   embedding_forward:  out[n, c] = table[id(n), c]                                  out [N, C]
//   embedding_backward: dTable[v, c] (+)= Σ over n with id(n) = v, in token order, of gy[n, c]
//                                                                       gy [N, C], dTable [V, C]
// id(n) = min(ids[n], V − 1): ids are NOT validated on the GPU (no readback); an id ≥ V is clamped
// to the last row so neither kernel reads or writes out of bounds, and forward and backward agree
// on the row it stands for. The caller (tokenizer, data pipeline) is responsible for ids < V.
//
// Backward without float atomics (deterministic, bit-for-bit repeatable): one workgroup per token
// n. It first checks whether n is the FIRST token with its id (compares ids[0..n) in parallel);
// only that workgroup writes row id(n) of dTable, summing gy rows of every token m ≥ n with the same
// id in increasing m (each invocation owns columns lid, lid + WG, …). Rows of dTable no token uses
// are not touched here: the wrapper zero-fills a fresh gradient first, or (ACCUMULATE) adds into an
// existing one. Cost: N workgroups × N id compares + one pass over gy per distinct id; independent
// of V, which matters for V = 50257 and N of a few thousand tokens. Each block of WG columns rescans
// the ids of tokens m ≥ n, so the id reads are about N²/WG + distinct ids · N · ⌈C/WG⌉.
//
// embedding_backward_serial (software adapters, where workgroup barriers are very expensive): the
// same sums without barriers, one invocation per token n and group of 4 columns. It returns at once
// unless n is the first token with its id (a serial scan of ids[0..n)), then sums the gy rows of every
// token m ≥ n with that id in increasing m, as embedding_backward does: the same order, so the
// same bits. Cost: N·⌈C/4⌉ invocations, each about n id reads, plus one pass over gy per distinct id.
//
// embedding_forward_half: the forward gather from a packed 16-bit table (frozen bf16/f16 weights,
// FORMAT 1 bf16 / 2 f16) bound as table_half: element e = v·C + c of the table is the 16-bit half
// (e & 1) of word e >> 1 (element 2i in bits 0..15, 2i+1 in bits 16..31; indexed globally, so a
// row of odd C starts mid-word). bf16 → f32 is a 16-bit shift and f16 → f32 unpack2x16float:
// exact, so the output equals the f32 gather of the expanded table.
//
// Row blocks (gpu/rowBlocks.ts): a table too large for one binding is bound one block at a time,
// rows [row0, row0 + rows) of the whole [V, C] as a [rows, C] array (packed ones packed from the
// block's own start). Each dispatch gathers, or scatters into, only the tokens whose row falls in
// its block; the clamp to V − 1 is on the whole table. One block: row0 = 0, rows = V.
//
// Forward grid: one invocation per output element, workgroups laid out 2-D (see elementwise.wgsl):
// i = (wid.y · nwg.x + wid.x) · WG + lid. Backward grid: token n = wid.y · nwg.x + wid.x.

struct Params { N: u32, C: u32, V: u32, row0: u32, rows: u32 }

override WG: u32 = 256u; // a power of two
override ACCUMULATE: bool = false;
override FORMAT: u32 = 1u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;          // [N]
@group(0) @binding(2) var<storage, read> src: array<f32>;          // forward: table block [rows, C]; backward: gy [N, C]
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;    // forward: out [N, C]; backward: dTable block [rows, C]
@group(0) @binding(4) var<storage, read> table_half: array<u32>;   // embedding_forward_half: packed table block [rows, C]

fn row_of(n: u32) -> u32 {
  return min(ids[n], params.V - 1u);
}

fn in_block(v: u32) -> bool {
  return v >= params.row0 && v - params.row0 < params.rows;
}

// The block element that output element i = n·C + c gathers, (row_of(n) − row0)·C + c, or
// 0xffffffff when that row is in another block.
fn table_element(i: u32) -> u32 {
  let n = i / params.C;
  let c = i - n * params.C;
  let v = row_of(n);
  if (!in_block(v)) { return 0xffffffffu; }
  return (v - params.row0) * params.C + c;
}

@compute @workgroup_size(WG)
fn embedding_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= params.N * params.C) { return; }
  let e = table_element(i);
  if (e == 0xffffffffu) { return; }
  dst[i] = src[e];
}

@compute @workgroup_size(WG)
fn embedding_forward_half(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= params.N * params.C) { return; }
  let e = table_element(i);
  if (e == 0xffffffffu) { return; }
  let bits = (table_half[e >> 1u] >> ((e & 1u) << 4u)) & 0xffffu;
  if (FORMAT == 1u) {
    dst[i] = bitcast<f32>(bits << 16u);
  } else {
    dst[i] = unpack2x16float(bits).x;
  }
}

var<workgroup> seen: array<u32, WG>;

@compute @workgroup_size(WG)
fn embedding_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = wid.y * nwg.x + wid.x;
  if (n >= params.N) { return; } // uniform per workgroup, so the barriers below stay legal
  let v = row_of(n);
  // Did an earlier token have the same id? OR-reduce over the workgroup.
  var earlier = 0u;
  for (var m = lid; m < n; m += WG) {
    if (row_of(m) == v) { earlier = 1u; }
  }
  seen[lid] = earlier;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { seen[lid] = max(seen[lid], seen[lid + stride]); }
    workgroupBarrier();
  }
  // The loop above ends on a barrier, so seen[0] is final; no barrier follows this branch.
  if (seen[0] != 0u || !in_block(v)) { return; }
  for (var c = lid; c < params.C; c += WG) {
    var acc = 0.0;
    for (var m = n; m < params.N; m++) {
      if (row_of(m) == v) { acc += src[m * params.C + c]; }
    }
    let index = (v - params.row0) * params.C + c;
    if (ACCUMULATE) { dst[index] += acc; } else { dst[index] = acc; }
  }
}

@compute @workgroup_size(WG)
fn embedding_backward_serial(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let groups = (params.C + 3u) / 4u;
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= params.N * groups) { return; }
  let n = i / groups;
  let c0 = (i - n * groups) * 4u;
  let v = row_of(n);
  if (!in_block(v)) { return; }
  for (var m = 0u; m < n; m++) {
    if (row_of(m) == v) { return; }
  }
  let width = min(4u, params.C - c0);
  var acc = vec4<f32>(0.0);
  for (var m = n; m < params.N; m++) {
    if (row_of(m) == v) {
      for (var j = 0u; j < width; j++) { acc[j] += src[m * params.C + c0 + j]; }
    }
  }
  let base = (v - params.row0) * params.C + c0;
  for (var j = 0u; j < width; j++) {
    if (ACCUMULATE) { dst[base + j] += acc[j]; } else { dst[base + j] = acc[j]; }
  }
}
