// Segmented reduction of an f32 array x [n] cut into consecutive segments of `len` elements (the
// last one may be shorter): out[outOffset + s] = ⊕ over x[s·len .. min((s+1)·len, n)) of f(x[i]),
//   ⊕ = + (sum) or max (MAX);  f(v) = v, or v² (SQUARE).
// Row reductions of x [R, C] over the last dimension are segments with len = C (out [R]).
// Whole-tensor reductions run this twice or more: segments of x into partials, then one segment
// over the partials (with SQUARE off: the partials are already squared) into a [1] tensor.
// No float atomics: results do not depend on scheduling, so runs are bit-for-bit repeatable.
//
// One workgroup per segment (2-D grid: s = wid.y · nwg.x + wid.x, beyond `segments` returns).
// Each invocation accumulates a strided partial in f32 (elements lid, lid + WG, …), then the
// workgroup combines the WG partials pairwise in workgroup memory: log2(WG) barriers. For a sum
// of m elements the rounding error is about (m/WG + log2 WG)·ε relative to Σ|x|, instead of m·ε
// for one sequential loop.
//
// MAX needs an identity: -inf cannot be written in WGSL and -3.4e38 would be wrong for a segment
// of -inf values, so each invocation starts from a real element of its segment (an invocation
// past the end repeats the last one; max is idempotent so the repeats are harmless).

struct Params { n: u32, len: u32, segments: u32, outOffset: u32 }

override SQUARE: bool = false;
override MAX: bool = false;
override WG: u32 = 256u; // a power of two

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [n]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // [outOffset + segments]

var<workgroup> partial: array<f32, WG>;

fn load(i: u32) -> f32 {
  let v = x[i];
  if (SQUARE) { return v * v; }
  return v;
}

fn combine(p: f32, q: f32) -> f32 {
  if (MAX) { return max(p, q); }
  return p + q;
}

@compute @workgroup_size(WG)
fn reduce_segments(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let s = wid.y * nwg.x + wid.x;
  if (s >= params.segments) { return; } // uniform per workgroup, so the barriers below stay legal
  let start = s * params.len;
  let end = min(start + params.len, params.n);
  var acc = 0.0;
  if (MAX) { acc = load(start + min(lid, end - start - 1u)); }
  for (var i = start + lid; i < end; i += WG) {
    acc = combine(acc, load(i));
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] = combine(partial[lid], partial[lid + stride]); }
    workgroupBarrier();
  }
  if (lid == 0u) { out[params.outOffset + s] = partial[0]; }
}
