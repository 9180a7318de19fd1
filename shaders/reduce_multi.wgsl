// Σ x² over up to K tensors in one dispatch (global gradient-norm clipping): every workgroup s
// covers the same index range [s·len, (s+1)·len) of every slot k and writes one partial,
//   out[outOffset + s] = Σ_k Σ over i in that range, i < n_k, of x_k[i]²,
// which a second pass (reduce.wgsl) sums with the partials of the other dispatches. No float
// atomics: bit-for-bit repeatable. The wrapper (src/kernels/reduce.ts, sumSquaresMany) puts
// tensors of similar size in one dispatch, so few lanes are masked off past a short slot's end.
//
// WGSL has no arrays of buffer bindings, so the slot-indexed parts are generated for each K by
// the wrapper and put in front of this file:
//   struct Params { len, segments, outOffset, then per slot k: n_k }
//   @binding(0) params (uniform), @binding(1) out, @binding(2 + k) x_k [n_k] (read)
//   fn squares_at(i) -> f32: Σ_k x_k[i]² over the slots with i < n_k
// The partials are combined pairwise in workgroup memory as in reduce.wgsl.

override WG: u32 = 256u; // a power of two

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn sum_squares_multi(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let s = wid.y * nwg.x + wid.x;
  if (s >= params.segments) { return; } // uniform per workgroup, so the barriers below stay legal
  let start = s * params.len;
  let end = start + params.len;
  var acc = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    acc += squares_at(i);
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[params.outOffset + s] = partial[0]; }
}
