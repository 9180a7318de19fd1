// NF4 (4-bit NormalFloat, QLoRA) block quantization, bit-exact to bitsandbytes (the matrix
// products that dequantize on the fly are nf4_matmul.wgsl). The CPU definition is
// src/io/nf4Reference.ts (its header has the full rules); in short, for W [out, in] f32 flattened
// row-major into n = out·in values:
//   blocks of 64 consecutive values (the last may be partial), absmax [blocks] f32;
//   r = fl(1/absmax) correctly rounded, x = fl(w·r), code = #{ j : x > T_j } (ties → lower index);
//   an all-zero block gets code 0 everywhere (bitsandbytes' NaN path); w' = fl(NF4[code]·absmax).
//   packed [ceil(n/8)] u32: byte i of the bitsandbytes byte stream is bits 8(i%4)..8(i%4)+7 of word
//   i/4; element 2i is its HIGH nibble, element 2i+1 its LOW nibble. For odd n the pad nibble
//   encodes 0.0; bytes past ceil(n/2) are 0.
// Double quantization (DOUBLE_QUANT kernels): codes8 [ceil(blocks/4)] u32 (4 uint8 codes per word,
//   little-endian), scales [ceil(blocks/256)] f32, mean [1] f32; absmax' = fl(fl(map[q]·scale) + mean).
//
// Entry points (one file, one bind-group layout; unused bindings get placeholders):
//   nf4_quantize        one invocation per 64-block: src = W [n] → out_u32 = packed, out = absmax
//   nf4_dequantize      one invocation per word: packed, absmax → out = W' [n]
//   nf4_absmax_sums     one invocation per chunk of 256: src = absmax → out = chunk sums
//   nf4_absmax_mean     one invocation: src = chunk sums → out[0] = mean
//   nf4_double_quant    one invocation per chunk: src = absmax, mean, aux = dynamic map
//                       → out_u32 = codes8, out = scales
//   nf4_absmax_restore  one invocation per block: codes8, absmax = scales, mean, aux = map → out
//   nf4_divide_test     out[i] = div_rn(src[2i], src[2i+1]) (tests of the exact division)
//
// Why the arithmetic looks the way it does: WGSL's f32 division may be off by 2.5 ulp, so
// div_rn() divides mantissas in integers; codes and thresholds are hex-float literals (exact,
// checked against nf4Reference by a test); `opaque()` keeps a product rounded before an add where
// bitsandbytes rounds twice (a compiler may otherwise fuse them into one fma).

struct Params { n: u32, blocks: u32, count: u32, zero: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;        // W [n] | absmax [blocks] | sums
@group(0) @binding(2) var<storage, read> aux: array<f32>;        // dynamic map [256]
@group(0) @binding(3) var<storage, read> packed: array<u32>;     // [ceil(n/8)]
@group(0) @binding(4) var<storage, read> absmax: array<f32>;     // [blocks] | scales [ceil(blocks/256)]
@group(0) @binding(5) var<storage, read> codes8: array<u32>;     // [ceil(blocks/4)]
@group(0) @binding(6) var<storage, read> mean: array<f32>;       // [1]
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> out_u32: array<u32>;

const DQ_BLOCK: u32 = 256u;
const WG: u32 = 64u;

// <nf4 constants> (also spliced into nf4_matmul.wgsl by kernels/nf4.ts)
const BLOCK: u32 = 64u;
const NF4 = array<f32, 16>(
  -0x1.000000p0f, -0x1.647362p-1f, -0x1.0cd660p-1f, -0x1.946540p-2f, -0x1.23449ap-2f, -0x1.7a6a7ep-3f,
  -0x1.74f0e2p-4f, 0.0f, 0x1.45f5fep-4f, 0x1.4995c6p-3f, 0x1.f809bap-3f, 0x1.5a0674p-2f,
  0x1.c34970p-2f, 0x1.200f56p-1f, 0x1.722766p-1f, 0x1.000000p0f);
// </nf4 constants>

const THRESHOLDS = array<f32, 15>(
  -0x1.b239b0p-1f, -0x1.38a4e0p-1f, -0x1.d70900p-2f, -0x1.5bd4ecp-2f, -0x1.e079d8p-3f, -0x1.1a7178p-3f,
  -0x1.74f0e2p-5f, 0x1.45f5fep-5f, 0x1.ec90c4p-4f, 0x1.a0cfc0p-3f, 0x1.2b05a8p-2f, 0x1.8ea7f2p-2f,
  0x1.00da08p-1f, 0x1.491b5ep-1f, 0x1.b913b4p-1f);

// Copies so that runtime indices address memory once per invocation, not a rebuilt constant.
var<private> nf4_code: array<f32, 16> = NF4;
var<private> thresholds: array<f32, 15> = THRESHOLDS;

fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// The value itself, but rounded to f32 and hidden from fusion: params.zero is 0 at run time.
fn opaque(v: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(v) | params.zero);
}

// Correctly rounded a / b (ties to even) for positive normal a, b with a normal quotient, by
// long division of the 24-bit mantissas; other operands fall back to the built-in division
// (outside the quantizer's contract).
fn div_rn(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let ea = i32(ua >> 23u);
  let eb = i32(ub >> 23u);
  if (ea == 0 || eb == 0 || ea >= 255 || eb >= 255) { return a / b; }
  let ma = (ua & 0x7FFFFFu) | 0x800000u;
  let mb = (ub & 0x7FFFFFu) | 0x800000u;
  var e = ea - eb + 127;
  var r = ma;
  if (r < mb) { r = r << 1u; e -= 1; }
  var q = 0u;
  for (var i = 0u; i < 24u; i++) {
    q = q << 1u;
    if (r >= mb) { r -= mb; q |= 1u; }
    r = r << 1u;
  }
  // r is now twice the remainder: above mb → more than half an ulp left, equal → a tie.
  if (r > mb || (r == mb && (q & 1u) == 1u)) { q += 1u; }
  if (q == 0x1000000u) { q = 0x800000u; e += 1; }
  if (e <= 0 || e >= 255) { return a / b; }
  return bitcast<f32>((u32(e) << 23u) | (q & 0x7FFFFFu));
}

fn nf4_code_of(x: f32) -> u32 {
  var q = 0u;
  for (var j = 0u; j < 15u; j++) {
    if (x > thresholds[j]) { q += 1u; }
  }
  return q;
}

// ---- quantize / dequantize ------------------------------------------------------------------

@compute @workgroup_size(64, 1, 1)
fn nf4_quantize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
  let b = flat_id(wid, nwg, lid);
  if (b >= params.blocks) { return; }
  let n = params.n;
  let begin = b * BLOCK;
  let end = min(begin + BLOCK, n);
  var m = 0.0;
  for (var e = begin; e < end; e++) { m = max(m, abs(src[e])); }
  out[b] = m;
  let zero_block = m == 0.0;
  var r = 0.0;
  if (!zero_block) { r = div_rn(1.0, m); }
  let coded_end = (n + 1u) & ~1u; // the odd-n pad element is coded as the value 0
  let pad_code = select(7u, 0u, zero_block);
  let words = (min(begin + BLOCK, coded_end) - begin + 7u) / 8u;
  for (var t = 0u; t < words; t++) {
    var word = 0u;
    for (var k = 0u; k < 8u; k++) {
      let e = begin + 8u * t + k;
      var q = 0u;
      if (e < n) {
        if (!zero_block) { q = nf4_code_of(src[e] * r); }
      } else if (e < coded_end) {
        q = pad_code;
      }
      word |= q << (8u * (k >> 1u) + 4u * (1u - (k & 1u)));
    }
    out_u32[(begin >> 3u) + t] = word;
  }
}

@compute @workgroup_size(64, 1, 1)
fn nf4_dequantize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
  let w = flat_id(wid, nwg, lid);
  let begin = w * 8u;
  if (begin >= params.n) { return; }
  let word = packed[w];
  let a = absmax[begin / BLOCK];
  for (var k = 0u; k < 8u; k++) {
    let e = begin + k;
    if (e < params.n) {
      let q = (word >> (8u * (k >> 1u) + 4u * (1u - (k & 1u)))) & 15u;
      out[e] = nf4_code[q] * a;
    }
  }
}

// ---- double quantization ----------------------------------------------------------------------

// count = blocks. Chunk c sums absmax[256c .. 256c+255] in order.
@compute @workgroup_size(64, 1, 1)
fn nf4_absmax_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = flat_id(wid, nwg, lid);
  let begin = c * DQ_BLOCK;
  if (begin >= params.count) { return; }
  let end = min(begin + DQ_BLOCK, params.count);
  var s = 0.0;
  for (var j = begin; j < end; j++) { s = s + src[j]; }
  out[c] = s;
}

// count = blocks, n = number of chunk sums in src.
@compute @workgroup_size(1, 1, 1)
fn nf4_absmax_mean() {
  var s = 0.0;
  for (var c = 0u; c < params.n; c++) { s = s + src[c]; }
  var m = 0.0;
  if (s != 0.0) { m = div_rn(s, f32(params.count)); }
  out[0] = m;
}

// bitsandbytes' dQuantize<0> over the 256-value dynamic map in aux.
fn quantize_dynamic(x: f32) -> u32 {
  var pivot = 127u;
  var upper_pivot = 255u;
  var lower_pivot = 0u;
  var lower = -1.0;
  var upper = 1.0;
  var val = aux[pivot];
  for (var i = 64u; i > 0u; i = i >> 1u) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = aux[pivot];
  }
  if (upper_pivot == 255u) { upper = aux[upper_pivot]; }
  if (lower_pivot == 0u) { lower = aux[lower_pivot]; }
  if (x > val) {
    let midpoint = (upper + val) * 0.5;
    if (x > midpoint) { return upper_pivot; }
    return pivot;
  }
  let midpoint = (lower + val) * 0.5;
  if (x < midpoint) { return lower_pivot; }
  return pivot;
}

// count = blocks. Chunk c: v = absmax − mean over its ≤ 256 blocks, scale = max |v|, codes.
@compute @workgroup_size(64, 1, 1)
fn nf4_double_quant(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = flat_id(wid, nwg, lid);
  let begin = c * DQ_BLOCK;
  if (begin >= params.count) { return; }
  let end = min(begin + DQ_BLOCK, params.count);
  let mu = mean[0];
  var m = 0.0;
  for (var j = begin; j < end; j++) { m = max(m, abs(src[j] - mu)); }
  out[c] = m;
  var r = 0.0;
  if (m != 0.0) { r = div_rn(1.0, m); }
  let words = (end - begin + 3u) / 4u;
  for (var t = 0u; t < words; t++) {
    var word = 0u;
    for (var k = 0u; k < 4u; k++) {
      let j = begin + 4u * t + k;
      if (j < end && m != 0.0) {
        word |= quantize_dynamic((src[j] - mu) * r) << (8u * k);
      }
    }
    out_u32[(begin >> 2u) + t] = word;
  }
}

// count = blocks. absmax'[b] = fl(fl(map[code8_b] · scale_{b/256}) + mean).
@compute @workgroup_size(64, 1, 1)
fn nf4_absmax_restore(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
  let b = flat_id(wid, nwg, lid);
  if (b >= params.count) { return; }
  let q = (codes8[b >> 2u] >> (8u * (b & 3u))) & 0xFFu;
  out[b] = opaque(aux[q] * absmax[b / DQ_BLOCK]) + mean[0];
}

// count = pairs.
@compute @workgroup_size(64, 1, 1)
fn nf4_divide_test(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = flat_id(wid, nwg, lid);
  if (i >= params.count) { return; }
  out[i] = div_rn(src[2u * i], src[2u * i + 1u]);
}
