// A sparse update ΔW of a dense weight W [rows, cols] held as k values at fixed, distinct flat
// positions idx[t] = i·cols + j (row-major), e.g. SHiRA's trainable entries:
//   sparse_scatter_add  out [rows·cols] += s · values[t] at idx[t]          (W' = W + s·ΔW in place)
//   sparse_grad         out[t] = s · Σ_n gy[n, i_t] · x[n, j_t]  (+ out[t] when beta = 1)
//                       = s · (Gᵀ x)[i_t, j_t]: ∂L/∂values of y = x (W + s·ΔW)ᵀ, with
//                       G = ∂L/∂y [N, rows], x [N, cols]. Gᵀ x [rows, cols] is never formed.
// The indices must be distinct (the wrapper's caller checks it once on the host): scatter_add
// writes without atomics. An index ≥ rows·cols is skipped rather than written out of bounds.
// Grid: one invocation per entry t, workgroups laid out 2-D as in elementwise.wgsl:
// t = (wid.y · nwg.x + wid.x) · WG + lid. sparse_grad loops over the N tokens sequentially
// (deterministic); it reads gy and x with strides rows and cols, which neighbouring t of a sorted
// index list share when they sit in the same row. Cost: 2·k·N flops for the gradient, against
// 2·rows·cols·N for forming Gᵀ x densely.

struct Params { k: u32, rows: u32, cols: u32, tokens: u32, s: f32, beta: f32 }

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;     // [k]
@group(0) @binding(2) var<storage, read> idx: array<u32>;        // [k] flat positions in [rows, cols]
@group(0) @binding(3) var<storage, read> x: array<f32>;          // [N, cols]
@group(0) @binding(4) var<storage, read> gy: array<f32>;         // G [N, rows]
@group(0) @binding(5) var<storage, read_write> out: array<f32>;  // W' [rows, cols] | ∂L/∂values [k]

@compute @workgroup_size(WG)
fn sparse_scatter_add(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = (wid.y * nwg.x + wid.x) * WG + lid;
  if (t >= params.k) { return; }
  let p = idx[t];
  if (p >= params.rows * params.cols) { return; }
  out[p] += params.s * values[t];
}

@compute @workgroup_size(WG)
fn sparse_grad(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = (wid.y * nwg.x + wid.x) * WG + lid;
  if (t >= params.k) { return; }
  let p = idx[t];
  var acc = 0.0;
  if (p < params.rows * params.cols) {
    let i = p / params.cols;
    let j = p - i * params.cols;
    for (var n = 0u; n < params.tokens; n++) {
      acc += gy[n * params.rows + i] * x[n * params.cols + j];
    }
  }
  var result = params.s * acc;
  if (params.beta != 0.0) { result += out[t]; }
  out[t] = result;
}
