// The Llama family (Llama, Mistral, Qwen2, SmolLM) as Hugging Face's LlamaForCausalLM computes it:
//   x = embed_tokens[ids]                                              [B, T, C]
//   per block:  h = rmsnorm(x)                                          (eps inside the sqrt)
//               q = rope(q_proj(h)) [B,T,H·D], k = rope(k_proj(h)) [B,T,KV·D], v = v_proj(h)
//               x = x + o_proj(attn(q, k, v))                           causal, grouped-query
//               x = x + down_proj(silu(gate_proj(rmsnorm(x))) ⊙ up_proj(rmsnorm(x)))
//   logits = norm(x) · lm_headᵀ (or embed_tokensᵀ when tied)             [B, T, V]
// Optional q/k/v/o and MLP biases (Qwen2 has q, k, v). Sliding windows are not implemented:
// exact while T ≤ sliding_window (the trainer keeps it so).

import type { LlamaConfig } from '../io/hfConfig';
import type { Graph } from '../tensor/graph';
import { attendWithCache } from '../tensor/kvCache';
import { swiglu } from '../tensor/ops/activation';
import { causalAttention } from '../tensor/ops/attention';
import { add } from '../tensor/ops/elementwiseOps';
import { embedding } from '../tensor/ops/embedding';
import { linear } from '../tensor/ops/linear';
import { rmsNorm } from '../tensor/ops/norm';
import { rope } from '../tensor/ops/rope';
import type { Tensor } from '../tensor/tensor';
import { CausalLM, type ForwardOptions, type NamedParameter } from './causalLM';
import { DenseLinear } from './linearLayer';

const PROJECTIONS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'] as const;

export class LlamaModel extends CausalLM {
  declare readonly config: LlamaConfig;

  constructor(config: LlamaConfig, params: ReadonlyMap<string, NamedParameter>) {
    super(config, params);
    for (let i = 0; i < config.numLayers; i++) {
      for (const p of PROJECTIONS) {
        const name = `model.layers.${i}.${p}`;
        this.slots.set(name, new DenseLinear(name, this.parameter(`${name}.weight`), this.params.get(`${name}.bias`)?.tensor));
      }
    }
  }

  linearNames(): readonly string[] {
    return [...this.slots.keys()];
  }

  linearRole(name: string): string {
    return name.replace(/^model\.layers\.\d+\.(self_attn|mlp)\./, '').replace(/_proj$/, '');
  }

  forward(g: Graph, ids: Tensor, options: ForwardOptions = {}): Tensor {
    const { numHeads: H, numKvHeads: KV, headDim: D, numLayers: L, normEps: eps, ropeTheta: theta } = this.config;
    const start = options.start ?? 0;
    const shape = { heads: H, kvHeads: KV, headDim: D };
    let x = embedding(g, ids, this.parameter('model.embed_tokens.weight'));
    for (let i = 0; i < L; i++) {
      const p = (n: string) => this.parameter(`model.layers.${i}.${n}`);
      const slot = (n: string) => this.layerFor(`model.layers.${i}.${n}`, options);
      const h = rmsNorm(g, x, p('input_layernorm.weight'), eps);
      const q = rope(g, slot('self_attn.q_proj').forward(g, h), { heads: H, headDim: D, theta, positionOffset: start });
      const k = rope(g, slot('self_attn.k_proj').forward(g, h), { heads: KV, headDim: D, theta, positionOffset: start });
      const v = slot('self_attn.v_proj').forward(g, h);
      const a = options.cache ? attendWithCache(g, q, k, v, options.cache, i, { ...shape, start }) : causalAttention(g, q, k, v, shape);
      x = add(g, x, slot('self_attn.o_proj').forward(g, a));
      const h2 = rmsNorm(g, x, p('post_attention_layernorm.weight'), eps);
      x = add(g, x, slot('mlp.down_proj').forward(g, swiglu(g, slot('mlp.gate_proj').forward(g, h2), slot('mlp.up_proj').forward(g, h2))));
    }
    const out = rmsNorm(g, x, this.parameter('model.norm.weight'), eps);
    const head = this.config.tieWordEmbeddings ? this.parameter('model.embed_tokens.weight') : this.parameter('lm_head.weight');
    return linear(g, out, head);
  }
}
