// Split-K product with subgroup reductions (put after shaders/matmul.wgsl, whose Params, bindings,
// load_a4/load_b4/block4/store_block it uses; the module starts with `enable subgroups;`). Same contract as
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
  let m = block4(row0, params.M - 1u);
  let n = block4(col0, params.N - 1u);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < params.K; k0 += SG_WG) {
    let k = k0 + lane;
    if (k < params.K) {
      let av = load_a4(base_a, m, k);
      let bv = load_b4(base_b, k, n);
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
  if (lane == 0u) { store_block(wid.z * params.strideC, row0, col0, array<vec4<f32>, 4>(acc0, acc1, acc2, acc3)); }
}
