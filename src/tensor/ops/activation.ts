// Activation ops with autograd, elementwise on tensors of any shape (x [B, T, C] → [B, T, C]):
//   gelu(x, 'tanh')   0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))   GPT-2 (HF "gelu_new")
//   gelu(x, 'exact')  x·Φ(x) = 0.5·x·(1 + erf(x/√2))             torch.nn.functional.gelu
//   silu(x)           x·σ(x)
//   swiglu(gate, up)  silu(gate) ⊙ up, gate and up [B, T, F]     Llama MLP; one fused kernel each way
// Backward: dx = dy ⊙ act'(x); swiglu gives dgate = dy ⊙ up ⊙ silu'(gate) and dup = dy ⊙ silu(gate)
// from one dispatch. The inputs themselves are what backward reads (nothing extra is saved).

import { activationBackward, activationForward, swigluBackward, swigluForward, type ActivationKind } from '../../kernels/activation';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';

export type GeluForm = 'tanh' | 'exact';

function unary(g: Graph, x: Tensor, kind: ActivationKind): Tensor {
  const y = g.output(activationForward(g.ctx, kind, x.data), [x], kind);
  g.record(kind, y, (gy) => {
    if (x.requiresGrad) g.accumulate(x, activationBackward(g.ctx, kind, x.data, gy));
  });
  return y;
}

export function gelu(g: Graph, x: Tensor, form: GeluForm): Tensor {
  return unary(g, x, form === 'tanh' ? 'gelu_tanh' : 'gelu_exact');
}

export function silu(g: Graph, x: Tensor): Tensor {
  return unary(g, x, 'silu');
}

export function swiglu(g: Graph, gate: Tensor, up: Tensor): Tensor {
  const y = g.output(swigluForward(g.ctx, gate.data, up.data), [gate, up], 'swiglu');
  g.record('swiglu', y, (gy) => {
    const { dgate, dup } = swigluBackward(g.ctx, gate.data, up.data, gy);
    // accumulate() releases a gradient whose input does not need one.
    g.accumulate(gate, dgate);
    g.accumulate(up, dup);
  });
  return y;
}
