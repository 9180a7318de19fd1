// Column block copy between row-major matrices with the same number of rows:
//   dst[r, dst_offset + j] = src[r, src_offset + j]   for r < rows, j < width
// src is [rows, src_cols], dst is [rows, dst_cols]. Used to split a fused projection's output
// ([N, 3C] → three [N, C]) and, in the backward, to place each part's gradient back.
// Columns of dst outside [dst_offset, dst_offset + width) are left untouched.
// Grid: one invocation per copied element, 2-D workgroup layout as in elementwise.wgsl.

struct Params { rows: u32, width: u32, src_cols: u32, src_offset: u32, dst_cols: u32, dst_offset: u32 }

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;        // [rows, src_cols]
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;  // [rows, dst_cols]

@compute @workgroup_size(WG)
fn copy_columns(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= params.rows * params.width) { return; }
  let r = i / params.width;
  let j = i % params.width;
  dst[r * params.dst_cols + params.dst_offset + j] = src[r * params.src_cols + params.src_offset + j];
}
