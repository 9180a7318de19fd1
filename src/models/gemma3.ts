// Gemma 3's text model as Hugging Face's Gemma3ForCausalLM computes it (Gemma Team 2025, "Gemma 3
// Technical Report"; transformers' modeling_gemma3.py):
//   x = embed_tokens[ids] · s                  [B, T, C], s = √C cast to the weights' dtype
//   every RMSNorm here scales by (1 + w): the stored weights are offsets from one
//   per block i:
//     a = attn_i(input_layernorm(x))           q/k: per-head q_norm/k_norm, then RoPE with base
//                                              rope_local_base_freq on sliding layers and
//                                              rope_theta on global ones; scores scaled by
//                                              query_pre_attn_scalar^(−1/2); sliding layers see
//                                              only the last `sliding_window` positions
//     x = x + post_attention_layernorm(a)
//     m = down_proj(gelu_tanh(gate_proj(h)) ⊙ up_proj(h)),  h = pre_feedforward_layernorm(x)
//     x = x + post_feedforward_layernorm(m)
//   h = norm(x) [B, T, C]; logits = h · embed_tokensᵀ (tied)                      [B, T, V]
// The attention sublayer and the gated MLP are LlamaModel's, driven by the config (per-layer
// window and RoPE base, q/k norm, scale, activation, norm offset); only the block differs.
// The residual adds run fused with the pre-norm that reads them (pre_feedforward_layernorm, the
// next block's input_layernorm, the final norm), as in LlamaModel. The post-norms
// (post_attention_layernorm, post_feedforward_layernorm) stay separate dispatches: they normalise
// the branch before the add, so fusing them too would take a post-norm + add + pre-norm kernel
// (two row reductions in sequence, and a backward through both norms); not done.
// Not done: final-logit and attention soft-capping (Gemma 2; Gemma 3 sets both null and the
// config parser refuses them), scaled RoPE on the global layers (refused likewise), the
// multimodal Gemma3ForConditionalGeneration.

import type { Graph } from '../tensor/graph';
import { embedding } from '../tensor/ops/embedding';
import { scale } from '../tensor/ops/scaling';
import type { Tensor } from '../tensor/tensor';
import type { ForwardOptions } from './causalLM';
import { LlamaModel } from './llama';

export class Gemma3Model extends LlamaModel {
  protected override embed(g: Graph, ids: Tensor): Tensor {
    return scale(g, embedding(g, ids, this.parameter('model.embed_tokens.weight')), this.config.embedScale);
  }

  protected override decoderLayer(g: Graph, i: number, x: Tensor, h: Tensor, options: ForwardOptions): { residual: Tensor; branch: Tensor } {
    const name = (n: string) => `model.layers.${i}.${n}.weight`;
    const { sum, normed } = this.addNorm(
      g,
      x,
      this.norm(g, this.attention(g, i, h, options), name('post_attention_layernorm')),
      name('pre_feedforward_layernorm'),
    );
    return { residual: sum, branch: this.norm(g, this.mlp(g, i, normed, options), name('post_feedforward_layernorm')) };
  }
}
