// A packed 16-bit tensor expanded to f32, n elements (the f32 temporaries of a frozen weight that
// merges, exports, SVD and quantization inits need, and full fine-tuning's own copy):
//   half_unpack: dst f32 [n] = the elements of src (packed, FORMAT 1 bf16 / 2 f16), exact
// Packed layout (GpuTensor.half): element 2i in bits 0..15 and 2i+1 in bits 16..31 of word i
// (the last word's high half unused when n is odd). One invocation per word (two elements).
// bf16 → f32: the bits shifted into the upper half; f16 → f32: unpack2x16float. The f32 results
// are written as their bits (dst is array<u32>), so no value passes through float arithmetic.
// Rounding f32 to 16 bits (frozen f32 weights stored as f16) is done exactly on the CPU at load
// (io/halfFloat.ts): WGSL's pack2x16float may round either way.
// Grid: workgroups laid out 2-D (see elementwise.wgsl): word = (wid.y · nwg.x + wid.x) · WG + lid.

struct Params { n: u32 }

override WG: u32 = 256u;
override FORMAT: u32 = 1u;

const FORMAT_BF16: u32 = 1u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;        // packed [⌈n/2⌉]
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;  // f32 bits [n]

@compute @workgroup_size(WG)
fn half_unpack(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let e = 2u * i;
  if (e >= params.n) { return; }
  let w = src[i];
  var pair: vec2<u32>;
  if (FORMAT == FORMAT_BF16) {
    pair = vec2<u32>(w << 16u, w & 0xffff0000u);
  } else {
    pair = bitcast<vec2<u32>>(unpack2x16float(w));
  }
  dst[e] = pair.x;
  if (e + 1u < params.n) { dst[e + 1u] = pair.y; }
}
