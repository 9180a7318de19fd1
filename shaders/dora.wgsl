// DoRA's per-row kernels (Liu et al. 2024, eq. 5: W' = diag(m / ‖W + sBA‖_row) (W + sBA)), with
// v = ‖W_i + s(BA)_i‖² [rows] formed by the caller (kernels/dora.ts):
//   dora_norm        dst[i] = √max(v[i], 0)                         (the row norm; m's init)
//   dora_over_norm   dst[i] = w[i] / √max(v[i], 0)                  (∂L/∂m = Σ_n G⊙z / ‖·‖)
//                    with UNIT_WHEN_EQUAL: exactly 1 where w[i] == √v[i] (the magnitude scale
//                    m/‖·‖ at init, where m was set to this very norm: the model is then the base
//                    model bit for bit, whatever the device's division rounds x/x to)
//   dora_scale_rows  dst[r·cols + c] *= v[r]                         (diag(v) · X, in place)
// max(·, 0) guards a −0 or a rounding below zero of a sum of squares. A zero norm gives ±inf or
// NaN as PEFT's division does (no epsilon: a zero row of W + sBA has no direction).
// Grid: one invocation per element of dst, workgroups laid out 2-D as in elementwise.wgsl.

struct Params { n: u32, cols: u32 }

override WG: u32 = 256u;
override UNIT_WHEN_EQUAL: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;          // [rows]
@group(0) @binding(2) var<storage, read> w: array<f32>;          // [rows] (dora_over_norm)
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;  // [rows], or [rows, cols] (dora_scale_rows)

fn index_of(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn dora_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index_of(wid, nwg, lid);
  if (i >= params.n) { return; }
  dst[i] = sqrt(max(v[i], 0.0));
}

@compute @workgroup_size(WG)
fn dora_over_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index_of(wid, nwg, lid);
  if (i >= params.n) { return; }
  let norm = sqrt(max(v[i], 0.0));
  if (UNIT_WHEN_EQUAL && w[i] == norm) {
    dst[i] = 1.0;
  } else {
    dst[i] = w[i] / norm;
  }
}

@compute @workgroup_size(WG)
fn dora_scale_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = index_of(wid, nwg, lid);
  if (i >= params.n) { return; }
  dst[i] = dst[i] * v[i / params.cols];
}
