// AdamW step (Loshchilov & Hutter, PyTorch's torch.optim.AdamW, non-amsgrad) for one parameter of
// n elements, and the gradient-clipping factor that feeds its gradient scale.
//
// adamw_step, one invocation per element i (g = grad[i] · gradScale[0] when HAS_SCALE):
//   p ← p · (1 − lr·wd)                               decoupled weight decay (decayFactor)
//   m ← β1·m + (1 − β1)·g                             state[i]        first moment
//   v ← β2·v + (1 − β2)·g²                            state[n + i]    second moment
//   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
// The last line is PyTorch's own arrangement (step_size = lr / bias_correction1, denom =
// √v / √bias_correction2 + ε), so eps enters exactly as there. stepSize, bc2Sqrt and decayFactor
// come in the uniform, computed in float64 on the CPU from the step count t (also in the uniform):
// f32 pow(0.999, 1) would already put a 1e-5 relative error into 1 − β2^t.
// state [2n]: m then v. Grid: 2-D (see elementwise.wgsl).
// adamw_step updates one parameter per dispatch; the optimizer itself runs adamw_multi.wgsl,
// several parameters per dispatch, whose per-element arithmetic is adam_update below (the
// wrapper copies this function's text into that shader, so both compute the same f32 operations
// in the same order: the multi-tensor kernel is tested bit for bit against adamw_step).
//
// clip_scale, one invocation: reads grad[0] = Σ g² over all gradients (from sumSquaresMany) and
// writes param[0] = ‖g‖ = √Σg² and state[0] = min(1, maxNorm / (‖g‖ + 1e-6)) (PyTorch's
// clip_grad_norm_ factor, also applied when it is ≥ 1, where min() makes it exactly 1). It lives
// here, under the step's binding names, because its only consumer is adamw_step's gradScale.
// Non-finite guard (torch.amp.GradScaler's found_inf): when ‖g‖ is NaN or ±Inf, the scale is the
// marker −1 instead, and a step given that scale changes nothing (no parameter, no m, no v), so
// the state stays as it was before the bad step for the trainer's diagnosis (src/train/health.ts).
// Non-finite is told by the exponent bits: WGSL lets compilers assume floats are finite, so
// `x != x` may be folded away.
//
// Each element is read and written by one invocation only: deterministic, no atomics.

struct Params { n: u32, step: u32, beta1: f32, beta2: f32, eps: f32, decayFactor: f32, stepSize: f32, bc2Sqrt: f32, maxNorm: f32 }

override WG: u32 = 256u;
override HAS_SCALE: bool = false;
// With HAS_SCALE: read gradScale only for the skip marker (the gradients were scaled already).
override GUARD_ONLY: bool = false;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;         // adamw_step: [n];  clip_scale: [1] Σ g²
@group(0) @binding(2) var<storage, read> gradScale: array<f32>;    // adamw_step: [1] (HAS_SCALE);  clip_scale: unused
@group(0) @binding(3) var<storage, read_write> param: array<f32>;  // adamw_step: [n];  clip_scale: [1] norm out
@group(0) @binding(4) var<storage, read_write> state: array<f32>;  // adamw_step: [2n] m, v;  clip_scale: [1] scale out

@compute @workgroup_size(WG)
fn adamw_step(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let n = params.n;
  if (i >= n) { return; }
  var g = grad[i];
  if (HAS_SCALE) {
    if (gradScale[0] < 0.0) { return; }
    if (!GUARD_ONLY) { g *= gradScale[0]; }
  }
  let r = adam_update(g, param[i], state[i], state[n + i], params.decayFactor, params.stepSize, params.bc2Sqrt);
  state[i] = r.y;
  state[n + i] = r.z;
  param[i] = r.x;
}

// One element: (p, m, v) → (p', m', v') as in the header. Reads params.beta1, params.beta2 and
// params.eps, which every shader that includes this function has.
fn adam_update(g: f32, p0: f32, m0: f32, v0: f32, decayFactor: f32, stepSize: f32, bc2Sqrt: f32) -> vec3<f32> {
  let p = p0 * decayFactor;
  let m = params.beta1 * m0 + (1.0 - params.beta1) * g;
  let v = params.beta2 * v0 + (1.0 - params.beta2) * g * g;
  return vec3<f32>(p - stepSize * m / (sqrt(v) / bc2Sqrt + params.eps), m, v);
}

@compute @workgroup_size(1)
fn clip_scale() {
  let norm = sqrt(grad[0]);
  param[0] = norm;
  if ((bitcast<u32>(norm) & 0x7f800000u) == 0x7f800000u) {
    state[0] = -1.0;
  } else {
    state[0] = min(1.0, params.maxNorm / (norm + 1e-6));
  }
}
