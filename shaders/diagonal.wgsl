// D [r, r] = diag(g(v)) from a vector v [r] on the GPU, g(x) = (max(x, 0) / divisor)^power
// (power 1 or ½): the diagonal factors of the SVD-based inits (PiSSA's √(σ/s), LoRA-SB's σ), so the
// singular values never leave the GPU. One invocation per element of D (zeros off the diagonal).

struct Params { r: u32, divisor: f32, power: f32 }

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;          // [r]
@group(0) @binding(2) var<storage, read_write> d: array<f32>;    // [r, r]

@compute @workgroup_size(WG)
fn diagonal_from(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let r = params.r;
  if (i >= r * r) { return; }
  let row = i / r;
  var value = 0.0;
  if (row == i % r) {
    let x = max(v[row], 0.0) / params.divisor;
    value = select(x, sqrt(x), params.power == 0.5);
  }
  d[i] = value;
}
