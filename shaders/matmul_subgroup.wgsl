// Split-K product with subgroup reductions (put after shaders/matmul.wgsl, whose Params, bindings,
// load_a/load_b/store_c it uses; the module starts with `enable subgroups;`). Same contract as
// matmul_registers: C[b] = alpha · op(A[b]) · op(B[b]) (+ bias) (+ beta · C[b]).
//
// One workgroup is one subgroup (SG_WG = the adapter's smallest subgroup size, so a workgroup can
// never be split across subgroups) and owns a 4×4 block of C. Its lanes take every SG_WG-th k,
// keep 16 partial sums in registers, and one subgroupAdd per row of the block combines them: no
// workgroup memory, no barriers. It suits products whose K is long and whose M·N is small (LoRA's
// rank-r factors, weight gradients of narrow layers), where a 4×4-per-invocation kernel leaves
// most of the GPU idle. The k loop's bound is uniform so that subgroupAdd runs in uniform control
// flow; lanes past K add nothing. Deterministic for a given subgroup size.

override SG_WG: u32 = 4u;

@compute @workgroup_size(SG_WG, 1, 1)
fn matmul_subgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let row0 = wid.y * 4u;
  let col0 = wid.x * 4u;
  if (row0 >= params.M || col0 >= params.N) { return; } // uniform per workgroup
  let base_a = wid.z * params.strideA;
  let base_b = wid.z * params.strideB;
  let last_m = params.M - 1u;
  let last_n = params.N - 1u;
  let m = vec4<u32>(min(row0, last_m), min(row0 + 1u, last_m), min(row0 + 2u, last_m), min(row0 + 3u, last_m));
  let n = vec4<u32>(min(col0, last_n), min(col0 + 1u, last_n), min(col0 + 2u, last_n), min(col0 + 3u, last_n));
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < params.K; k0 += SG_WG) {
    let k = k0 + lane;
    if (k < params.K) {
      let av = vec4<f32>(load_a(base_a, m.x, k), load_a(base_a, m.y, k), load_a(base_a, m.z, k), load_a(base_a, m.w, k));
      let bv = vec4<f32>(load_b(base_b, k, n.x), load_b(base_b, k, n.y), load_b(base_b, k, n.z), load_b(base_b, k, n.w));
      acc0 = fma(vec4<f32>(av.x), bv, acc0);
      acc1 = fma(vec4<f32>(av.y), bv, acc1);
      acc2 = fma(vec4<f32>(av.z), bv, acc2);
      acc3 = fma(vec4<f32>(av.w), bv, acc3);
    }
  }
  acc0 = subgroupAdd(acc0);
  acc1 = subgroupAdd(acc1);
  acc2 = subgroupAdd(acc2);
  acc3 = subgroupAdd(acc3);
  if (lane == 0u) {
    let base_c = wid.z * params.strideC;
    let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 4u; j++) {
        store_c(base_c, row0 + i, col0 + j, rows[i][j]);
      }
    }
  }
}
