// Multi-tensor AdamW step: the update of shaders/adamw.wgsl (adam_update, same arithmetic) for
// up to K parameters in one dispatch.
//
// Layout. Invocation j updates element j of every slot k whose range it reaches (j < count_k):
// element i = first_k + j of the slot's parameter param_k and gradient grad_k (a slot may cover
// only part of a parameter: one too large for a state buffer is cut into pieces). The grid covers
// the longest slot. All slots share one state buffer [2·S] (S = stateHalf): m of that element at
// state[state_k + j], v stateHalf further on. A parameter's state sits at a fixed place from the
// optimizer's construction on; a parameter without a gradient at a step is simply left out of
// that step's slots (its t does not advance).
// Per slot, the uniform carries count_k, first_k, state_k and the step's stepSize_k, decay_k and
// bc2Sqrt_k (computed in float64 on the CPU from the parameter's own t and learning-rate scale,
// as for adamw_step). g is multiplied by gradScale[0] when HAS_SCALE (GUARD_ONLY: not multiplied).
// A negative gradScale[0] (clip_scale's marker for a non-finite norm) skips the whole step.
//
// Why every invocation visits every slot instead of one slot per invocation: WGSL cannot index
// bindings, so choosing slot k's buffers at run time takes a branch per slot, and SwiftShader
// executes every branch of a SIMD group with lanes masked off (measured: one slot per invocation
// chosen by a switch cost K times the per-parameter kernel). Here every branch does work for all
// lanes, except past the end of shorter slots; the wrapper puts parameters of similar size in
// the same dispatch so that little is masked. On real GPUs each slot is a coalesced pass.
//
// WGSL has no arrays of buffer bindings, so the slot-indexed parts are generated for each K by
// the wrapper (src/kernels/adamw.ts, multiTensorSource) and put in front of this file, with
// adam_update copied from adamw.wgsl:
//   struct Params { stateHalf, beta1, beta2, eps, then per slot k: count_k, first_k, state_k,
//                   stepSize_k, decay_k, bc2Sqrt_k }
//   @binding(0) params (uniform), @binding(1) gradScale [1], @binding(2) state [2·S],
//   @binding(3 + 2k) grad_k [n_k] (read), @binding(4 + 2k) param_k [n_k] (read_write)
//   fn update_slots(j, scale)   for each k: if (j < count_k) { param_k[i] = step_element(...) }
// K is at most (maxStorageBuffersPerShaderStage − 2) / 2: 3 at WebGPU's default limit of 8.
// Each element is read and written by one invocation only: deterministic, no atomics.
// Grid: 2-D (see elementwise.wgsl).

override WG: u32 = 256u;
override HAS_SCALE: bool = false;
override GUARD_ONLY: bool = false;

// One element of one slot: g and p read from the slot's buffers, m and v at state[m] and
// state[stateHalf + m]; returns the new p (the caller stores it).
fn step_element(g0: f32, scale: f32, p: f32, m: u32, stepSize: f32, decayFactor: f32, bc2Sqrt: f32) -> f32 {
  var g = g0;
  if (HAS_SCALE) { g *= scale; }
  let r = adam_update(g, p, state[m], state[params.stateHalf + m], decayFactor, stepSize, bc2Sqrt);
  state[m] = r.y;
  state[params.stateHalf + m] = r.z;
  return r.x;
}

@compute @workgroup_size(WG)
fn adamw_multi(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let j = (wid.y * nwg.x + wid.x) * WG + lid;
  var scale = 1.0;
  if (HAS_SCALE) {
    if (gradScale[0] < 0.0) { return; }
    if (!GUARD_ONLY) { scale = gradScale[0]; }
  }
  update_slots(j, scale);
}
