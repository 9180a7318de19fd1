// The side product of matmul_lora.wgsl (kernels/matmulLora.ts appends this file to it; it defines
// params, f, d and side_e; matmul_lora_vec4.wgsl has a vec4 one of its own):
//   D [SM, SN] = sAlpha · Eᵀ · F (+ sBeta · D),  E [SK, SM] read through side_e(e), F [SK, SN].
// This is the weight gradient of a LoRA factor (Gᵀ h, dhᵀ x): SK is the token count and SM, SN
// are a layer width and the rank, so the loop is long and the rows short. Each invocation keeps a
// 4×4 block of D in registers and walks the SK rows of E and F, which are contiguous along the
// block: no workgroup memory, no barriers. A workgroup of w×h invocations covers 4h rows × 4w
// columns of D (tile index → (tile % sideTilesX, tile / sideTilesX)).

fn side_product(tile: u32, lx: u32, ly: u32, w: u32, h: u32) {
  let row0 = ((tile / params.sideTilesX) * h + ly) * 4u;
  let col0 = ((tile % params.sideTilesX) * w + lx) * 4u;
  if (row0 >= params.SM || col0 >= params.SN) { return; }
  // Rows/columns past the edge re-read the last valid one; their results are not stored.
  let last_m = params.SM - 1u;
  let last_n = params.SN - 1u;
  let m = vec4<u32>(row0, min(row0 + 1u, last_m), min(row0 + 2u, last_m), min(row0 + 3u, last_m));
  let n = vec4<u32>(col0, min(col0 + 1u, last_n), min(col0 + 2u, last_n), min(col0 + 3u, last_n));
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k = 0u; k < params.SK; k++) {
    let er = k * params.SM;
    let fr = k * params.SN;
    let ev = vec4<f32>(side_e(er + m.x), side_e(er + m.y), side_e(er + m.z), side_e(er + m.w));
    let fv = vec4<f32>(f[fr + n.x], f[fr + n.y], f[fr + n.z], f[fr + n.w]);
    acc0 = fma(vec4<f32>(ev.x), fv, acc0);
    acc1 = fma(vec4<f32>(ev.y), fv, acc1);
    acc2 = fma(vec4<f32>(ev.z), fv, acc2);
    acc3 = fma(vec4<f32>(ev.w), fv, acc3);
  }
  let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= params.SM) { break; }
    for (var jj = 0u; jj < 4u; jj++) {
      let col = col0 + jj;
      if (col >= params.SN) { break; }
      let index = row * params.SN + col;
      var v = params.sAlpha * rows[i][jj];
      if (params.sBeta != 0.0) { v += params.sBeta * d[index]; }
      d[index] = v;
    }
  }
}
