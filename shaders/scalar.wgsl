// Elementwise updates whose factor lives on the GPU (a [1] tensor), so no readback is needed:
//   scale_by_scalar       x[i] = x[i] · s[0]                          (apply a clip factor in place)
//   axpy_inverse_norm     y[i] = y[i] + coef · x[i] / sqrt(ss[0] + eps)  (gradient of coef·‖E‖_F
//                         given x = ∂‖E‖²/∂θ / 2 and ss = ‖E‖²: SORSA's regulariser)
// Grid: one invocation per element, 2-D workgroup layout as in elementwise.wgsl.

struct Params { n: u32, coef: f32, eps: f32 }

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scalar: array<f32>;     // [1]
@group(0) @binding(2) var<storage, read> x: array<f32>;          // [n]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;    // [n]

fn index_of(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn scale_by_scalar(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index_of(wid, nwg, lid);
  if (i >= params.n) { return; }
  y[i] = y[i] * scalar[0];
}

@compute @workgroup_size(WG)
fn axpy_inverse_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index_of(wid, nwg, lid);
  if (i >= params.n) { return; }
  y[i] = y[i] + params.coef * x[i] / sqrt(scalar[0] + params.eps);
}
