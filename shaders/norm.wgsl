// LayerNorm and RMSNorm over the last dimension of x [R, C] (rows = all leading dims flattened):
//   layer:  μ = mean(x),  rstd = 1/√(mean((x−μ)²) + eps),  x̂ = (x−μ)·rstd,  y = x̂·w + b
//   rms:    μ := 0,       rstd = 1/√(mean(x²) + eps),      x̂ = x·rstd,       y = x̂·w      (HF Llama)
// The scale is w + W_OFFSET: W_OFFSET = 1 for Gemma's RMSNorm, whose stored weight is an offset
// from one (y = x̂·(1 + w)); 0 otherwise. The backward formulas below then read w + W_OFFSET for
// w, and dw is unchanged (∂y/∂w = x̂ either way).
// With μ stored as 0 for RMS, every later formula is shared. stats [R, 2] keeps (μ, rstd) per row
// for the backward pass.
// Backward (dy = ∂L/∂y [R, C], g = dy·w):
//   dx = rstd·(g − mean(g) − x̂·mean(g·x̂))        (layer; llm.c layernorm_backward)
//   dx = rstd·(g − x̂·mean(g·x̂))                  (rms: no mean term, since μ does not depend on x)
//   dw[c] = Σ_r dy[r,c]·x̂[r,c],   db[c] = Σ_r dy[r,c]
//
// Fused residual add (ADD): x := a + b with a bound to x and b to dy; the forward kernels write the
// sum s to out2 [R, C] (the residual stream) besides y = norm(s), one pass for what was an add
// and a norm. Its first loop over the row computes and stores s; later loops read s back from out2
// (the same invocation's own writes).
// Backward outputs: out = dx, or out += dx (params.accumulate: the residual's incoming gradient ds
// taken in place, so out = ds + dx), and optionally the same value to a second gradient:
// OUT2 = 1 writes it to out2, OUT2 = 2 adds it to out2. For s = a + b both inputs get ds + dx:
// one dispatch instead of norm backward + add-into + copy.
//
// Entry points (one Params struct for all; unused fields are ignored):
//   norm_forward     one workgroup per row: y → out, (μ, rstd) → stats (s → out2 with ADD).
//   norm_backward_dx one workgroup per row: dx → out (and out2), stats read.
//   norm_forward_serial, norm_backward_dx_serial
//                    the same results from one invocation per row, looping over the whole row in
//                    registers: no workgroup memory, no barriers. For software adapters
//                    (SwiftShader), where a barrier costs far more than the serial loop it saves;
//                    real GPUs keep the workgroup versions, which spread a row over 64–256 lanes.
//   norm_param_rows  one invocation per (column, chunk of chunkRows rows): Σ over the chunk of
//                    dy·x̂ (or dy when BIAS_GRAD) → out[chunk·C + c]. With one chunk this is the
//                    final gradient (added to out when accumulate = 1).
//   norm_param_sum   one invocation per column: Σ over `chunks` partials read from dy [chunks, C]
//                    → out[c] (added to out when accumulate = 1).
// Parameter gradients are summed in a fixed order (no atomics), so results are bit-for-bit
// repeatable. Rows of any width work: in the workgroup kernels each invocation loops over the row
// with stride WG, then the workgroup combines its WG partials pairwise (log2 WG barriers), as in
// reduce.wgsl.
// Variance is two-pass (Σ(x−μ)², not Σx² − Cμ²), so rows with a large mean do not cancel.
//
// The per-row loops keep four partial sums (lanes of a vec4 over c ≡ 0, 1, 2, 3 mod 4), added
// pairwise at the end: four independent dependency chains for the CPU behind SwiftShader, and
// a rounding error growing with C/4 rather than C.
//
// Grids: row kernels use a 2-D workgroup grid (row = wid.y · nwg.x + wid.x; rows beyond R
// return, uniformly per workgroup so the barriers stay legal); the _serial kernels the same grid
// over groups of ROW_WG rows (row = (wid.y · nwg.x + wid.x) · ROW_WG + lid); parameter kernels
// use [ceil(C / 64), chunks] workgroups of 64 invocations.

struct Params { rows: u32, C: u32, eps: f32, chunks: u32, chunkRows: u32, accumulate: u32 }

override RMS: bool = false;
override HAS_BIAS: bool = true;
override BIAS_GRAD: bool = false;
override WG: u32 = 256u; // a power of two
override W_OFFSET: f32 = 0.0;
override ROW_WG: u32 = 16u; // rows per workgroup of the _serial kernels
override ADD: bool = false; // forward: normalise s = x + dy, and write s to out2
override OUT2: u32 = 0u;    // backward: 0 no second output, 1 out2 = out, 2 out2 += out

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;            // [R, C]
@group(0) @binding(2) var<storage, read> weight: array<f32>;       // [C]
@group(0) @binding(3) var<storage, read> bias: array<f32>;         // [C] (layer norm with HAS_BIAS)
@group(0) @binding(4) var<storage, read> dy: array<f32>;           // [R, C] (norm_param_sum: partials [chunks, C])
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;  // [R, 2]: (μ, rstd) per row
@group(0) @binding(6) var<storage, read_write> out: array<f32>;    // y or dx [R, C]; partials [chunks, C]; dw/db [C]
@group(0) @binding(7) var<storage, read_write> out2: array<f32>;   // ADD: s [R, C]; backward with OUT2: the second gradient [R, C]

var<workgroup> partial: array<vec2<f32>, WG>;

// Element i of the row input: x[i], or with ADD s[i] = x[i] + dy[i], computed and stored to out2
// when `first` (the first loop over the row) and read back from out2 afterwards.
fn load1(i: u32, first: bool) -> f32 {
  if (!ADD) { return x[i]; }
  if (first) {
    let v = x[i] + dy[i];
    out2[i] = v;
    return v;
  }
  return out2[i];
}

// A backward result v at i: to out (added to what is there with params.accumulate), and per OUT2.
fn store_grad(i: u32, v: f32) {
  var r = v;
  if (params.accumulate != 0u) { r += out[i]; }
  out[i] = r;
  if (OUT2 == 1u) { out2[i] = r; }
  if (OUT2 == 2u) { out2[i] += r; }
}

// Sum of v over the workgroup, returned to every invocation. Must be called in uniform control flow.
fn workgroup_sum(lid: u32, v: vec2<f32>) -> vec2<f32> {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] = partial[lid] + partial[lid + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  // Nobody may overwrite partial[0] (next call) before everyone has read it.
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn norm_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  let C = params.C;
  let base = row * C;
  let inv_c = 1.0 / f32(C);
  var mean = 0.0;
  if (!RMS) {
    var s = 0.0;
    for (var c = lid; c < C; c += WG) { s += load1(base + c, true); }
    mean = workgroup_sum(lid, vec2<f32>(s, 0.0)).x * inv_c;
  }
  var q = 0.0;
  for (var c = lid; c < C; c += WG) {
    let d = load1(base + c, RMS) - mean;
    q = fma(d, d, q);
  }
  let variance = workgroup_sum(lid, vec2<f32>(q, 0.0)).x * inv_c;
  let rstd = inverseSqrt(variance + params.eps);
  for (var c = lid; c < C; c += WG) {
    var y = (load1(base + c, false) - mean) * rstd * (weight[c] + W_OFFSET);
    if (HAS_BIAS) { y += bias[c]; }
    out[base + c] = y;
  }
  if (lid == 0u) {
    stats[2u * row] = mean;
    stats[2u * row + 1u] = rstd;
  }
}

@compute @workgroup_size(WG)
fn norm_backward_dx(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= params.rows) { return; }
  let C = params.C;
  let base = row * C;
  let mean = stats[2u * row];
  let rstd = stats[2u * row + 1u];
  // (Σ g, Σ g·x̂) over the row.
  var acc = vec2<f32>(0.0);
  for (var c = lid; c < C; c += WG) {
    let g = dy[base + c] * (weight[c] + W_OFFSET);
    let xhat = (x[base + c] - mean) * rstd;
    acc += vec2<f32>(g, g * xhat);
  }
  let sums = workgroup_sum(lid, acc) / f32(C);
  var mean_g = sums.x;
  if (RMS) { mean_g = 0.0; }
  for (var c = lid; c < C; c += WG) {
    let g = dy[base + c] * (weight[c] + W_OFFSET);
    let xhat = (x[base + c] - mean) * rstd;
    store_grad(base + c, rstd * (g - mean_g - xhat * sums.y));
  }
}

// ---- barrier-free variants: one invocation per row ------------------------------------------------

fn x4(i: u32) -> vec4<f32> { return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]); }
fn dy4(i: u32) -> vec4<f32> { return vec4<f32>(dy[i], dy[i + 1u], dy[i + 2u], dy[i + 3u]); }
fn load4(i: u32, first: bool) -> vec4<f32> {
  if (!ADD) { return x4(i); }
  if (first) {
    let v = x4(i) + dy4(i);
    out2[i] = v.x;
    out2[i + 1u] = v.y;
    out2[i + 2u] = v.z;
    out2[i + 3u] = v.w;
    return v;
  }
  return vec4<f32>(out2[i], out2[i + 1u], out2[i + 2u], out2[i + 3u]);
}
fn scale4(c: u32) -> vec4<f32> { return vec4<f32>(weight[c], weight[c + 1u], weight[c + 2u], weight[c + 3u]) + W_OFFSET; }
fn total4(v: vec4<f32>) -> f32 { return (v.x + v.y) + (v.z + v.w); }

fn row_of(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * ROW_WG + lid;
}

@compute @workgroup_size(ROW_WG)
fn norm_forward_serial(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = row_of(wid, nwg, lid);
  if (row >= params.rows) { return; }
  let C = params.C;
  let base = row * C;
  let C4 = C & ~3u; // the part of the row covered by whole vec4 steps
  let inv_c = 1.0 / f32(C);
  var mean = 0.0;
  if (!RMS) {
    var s4 = vec4<f32>(0.0);
    for (var c = 0u; c < C4; c += 4u) { s4 += load4(base + c, true); }
    var s = total4(s4);
    for (var c = C4; c < C; c++) { s += load1(base + c, true); }
    mean = s * inv_c;
  }
  var q4 = vec4<f32>(0.0);
  for (var c = 0u; c < C4; c += 4u) {
    let d = load4(base + c, RMS) - mean;
    q4 = fma(d, d, q4);
  }
  var q = total4(q4);
  for (var c = C4; c < C; c++) {
    let d = load1(base + c, RMS) - mean;
    q = fma(d, d, q);
  }
  let rstd = inverseSqrt(q * inv_c + params.eps);
  for (var c = 0u; c < C; c++) {
    var y = (load1(base + c, false) - mean) * rstd * (weight[c] + W_OFFSET);
    if (HAS_BIAS) { y += bias[c]; }
    out[base + c] = y;
  }
  stats[2u * row] = mean;
  stats[2u * row + 1u] = rstd;
}

@compute @workgroup_size(ROW_WG)
fn norm_backward_dx_serial(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = row_of(wid, nwg, lid);
  if (row >= params.rows) { return; }
  let C = params.C;
  let base = row * C;
  let C4 = C & ~3u;
  let mean = stats[2u * row];
  let rstd = stats[2u * row + 1u];
  // (Σ g, Σ g·x̂) over the row, four lanes each.
  var sg4 = vec4<f32>(0.0);
  var sgx4 = vec4<f32>(0.0);
  for (var c = 0u; c < C4; c += 4u) {
    let g = dy4(base + c) * scale4(c);
    let xhat = (x4(base + c) - mean) * rstd;
    sg4 += g;
    sgx4 += g * xhat;
  }
  var sg = total4(sg4);
  var sgx = total4(sgx4);
  for (var c = C4; c < C; c++) {
    let g = dy[base + c] * (weight[c] + W_OFFSET);
    let xhat = (x[base + c] - mean) * rstd;
    sg += g;
    sgx += g * xhat;
  }
  let inv_c = 1.0 / f32(C);
  var mean_g = sg * inv_c;
  if (RMS) { mean_g = 0.0; }
  let mean_gx = sgx * inv_c;
  for (var c = 0u; c < C; c++) {
    let g = dy[base + c] * (weight[c] + W_OFFSET);
    let xhat = (x[base + c] - mean) * rstd;
    store_grad(base + c, rstd * (g - mean_g - xhat * mean_gx));
  }
}

@compute @workgroup_size(64)
fn norm_param_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let chunk = gid.y;
  let C = params.C;
  if (c >= C) { return; }
  let start = chunk * params.chunkRows;
  let end = min(start + params.chunkRows, params.rows);
  var s = 0.0;
  for (var r = start; r < end; r++) {
    let g = dy[r * C + c];
    if (BIAS_GRAD) {
      s += g;
    } else {
      s = fma(g, (x[r * C + c] - stats[2u * r]) * stats[2u * r + 1u], s);
    }
  }
  let o = chunk * C + c;
  if (params.accumulate != 0u) { s += out[o]; }
  out[o] = s;
}

@compute @workgroup_size(64)
fn norm_param_sum(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let C = params.C;
  if (c >= C) { return; }
  var s = 0.0;
  for (var k = 0u; k < params.chunks; k++) { s += dy[k * C + c]; }
  if (params.accumulate != 0u) { s += out[c]; }
  out[c] = s;
}
