// The Llama family (Llama, Mistral, Qwen2, Qwen3, SmolLM) as Hugging Face's LlamaForCausalLM
// (and Qwen3ForCausalLM) computes it:
//   x = embed_tokens[ids]                                              [B, T, C]
//   per block:  h = rmsnorm(x)                                          (eps inside the sqrt)
//               q = q_proj(h) [B,T,H·D], k = k_proj(h) [B,T,KV·D], v = v_proj(h)
//               Qwen3: q, k = rmsnorm of each head (q_norm, k_norm [D])
//               q, k = rope(q), rope(k)                                 (the layer's base)
//               x = x + o_proj(attn(q, k, v))                           causal, grouped-query,
//                                                                       the layer's sliding window
//               x = x + down_proj(silu(gate_proj(rmsnorm(x))) ⊙ up_proj(rmsnorm(x)))
//   h = norm(x) [B, T, C]; logits = h · lm_headᵀ (or embed_tokensᵀ when tied)   [B, T, V]
// Optional q/k/v/o and MLP biases (Qwen2 has q, k, v). Note H·D may differ from C (Qwen3-0.6B:
// 16·128 = 2048 with C = 1024). The attention sublayer and the gated MLP are shared with Gemma 3
// (gemma3.ts), whose block arranges them with more norms.
// Every residual add that a norm reads next runs fused with that norm (addRmsNorm: one dispatch
// writes both x and norm(x)): in each block, and across blocks, where the block's last add feeds
// the next block's input_layernorm (or the final norm). With activation checkpointing a block's
// output must be one tensor, so its last add stays a plain add there.

import type { LlamaConfig } from '../io/hfConfig';
import type { Graph } from '../tensor/graph';
import { attendWithCache } from '../tensor/kvCache';
import { gelu, swiglu } from '../tensor/ops/activation';
import { causalAttention, type AttentionHeads } from '../tensor/ops/attention';
import { add, mul, reshape } from '../tensor/ops/elementwiseOps';
import { embedding } from '../tensor/ops/embedding';
import { addRmsNorm, rmsNorm, type AddNormResult } from '../tensor/ops/norm';
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
        this.slots.set(name, new DenseLinear(name, this.projectionWeight(`${name}.weight`), this.params.get(`${name}.bias`)?.tensor));
      }
    }
  }

  linearNames(): readonly string[] {
    return [...this.slots.keys()];
  }

  linearRole(name: string): string {
    return name.replace(/^model\.layers\.\d+\.(self_attn|mlp)\./, '').replace(/_proj$/, '');
  }

  forwardHidden(g: Graph, ids: Tensor, options: ForwardOptions = {}): Tensor {
    const L = this.config.numLayers;
    const inputNorm = (i: number) => (i < L ? `model.layers.${i}.input_layernorm.weight` : 'model.norm.weight');
    let x = this.embed(g, ids);
    if (options.checkpoint) {
      for (let i = 0; i < L; i++) {
        x = this.block(g, x, options, (gb, xb) => {
          const { residual, branch } = this.decoderLayer(gb, i, xb, this.norm(gb, xb, inputNorm(i)), options);
          return add(gb, residual, branch);
        });
      }
      return this.norm(g, x, inputNorm(L));
    }
    let h = this.norm(g, x, inputNorm(0));
    for (let i = 0; i < L; i++) {
      const { residual, branch } = this.decoderLayer(g, i, x, h, options);
      ({ sum: x, normed: h } = this.addNorm(g, residual, branch, inputNorm(i + 1)));
    }
    return h;
  }

  /** ids [B, T] → x [B, T, C] */
  protected embed(g: Graph, ids: Tensor): Tensor {
    return embedding(g, ids, this.parameter('model.embed_tokens.weight'));
  }

  /**
   * Block i on x [B, T, C] and h = input_layernorm(x): the block's output is residual + branch,
   * left unadded so that the caller can fuse that add with the norm that reads it.
   */
  protected decoderLayer(g: Graph, i: number, x: Tensor, h: Tensor, options: ForwardOptions): { residual: Tensor; branch: Tensor } {
    const { sum, normed } = this.addNorm(g, x, this.attention(g, i, h, options), `model.layers.${i}.post_attention_layernorm.weight`);
    return { residual: sum, branch: this.mlp(g, i, normed, options) };
  }

  /** RMSNorm over the last dimension with the weight `name` (Gemma: scale 1 + w). */
  protected norm(g: Graph, x: Tensor, name: string): Tensor {
    return rmsNorm(g, x, this.parameter(name), this.config.normEps, { weightOffset: this.config.normWeightOffset });
  }

  /** s = a + b and this.norm(s, name), in one dispatch. */
  protected addNorm(g: Graph, a: Tensor, b: Tensor, name: string): AddNormResult {
    return addRmsNorm(g, a, b, this.parameter(name), this.config.normEps, { weightOffset: this.config.normWeightOffset });
  }

  /**
   * Block i's attention on its normed input h [B, T, C] → o_proj output [B, T, C]: projections,
   * per-head q/k norms (when the model has them), RoPE with the layer's base from position
   * `start`, causal attention within the layer's window (over the KV cache when given).
   */
  protected attention(g: Graph, i: number, h: Tensor, options: ForwardOptions): Tensor {
    const { numHeads: H, numKvHeads: KV, headDim: D, attentionScale } = this.config;
    const { window, ropeTheta: theta } = this.config.layers[i]!;
    const start = options.start ?? 0;
    const slot = (n: string) => this.layerFor(`model.layers.${i}.self_attn.${n}`, options);
    let q = slot('q_proj').forward(g, h);
    let k = slot('k_proj').forward(g, h);
    const v = slot('v_proj').forward(g, h);
    if (this.config.qkNorm) {
      q = this.headNorm(g, q, H, `model.layers.${i}.self_attn.q_norm.weight`);
      k = this.headNorm(g, k, KV, `model.layers.${i}.self_attn.k_norm.weight`);
    }
    q = rope(g, q, { heads: H, headDim: D, theta, positionOffset: start });
    k = rope(g, k, { heads: KV, headDim: D, theta, positionOffset: start });
    const shape: AttentionHeads = { heads: H, kvHeads: KV, headDim: D, scale: attentionScale, ...(window !== null ? { window } : {}) };
    const a = options.cache ? attendWithCache(g, q, k, v, options.cache, i, { ...shape, start }) : causalAttention(g, q, k, v, shape);
    return slot('o_proj').forward(g, a);
  }

  /** x [B, T, heads·D] normed over each head's D entries with one weight [D]. */
  private headNorm(g: Graph, x: Tensor, heads: number, name: string): Tensor {
    const [B, T] = x.shape as [number, number, number];
    const D = this.config.headDim;
    return reshape(g, this.norm(g, reshape(g, x, [B, T, heads, D]), name), [B, T, heads * D]);
  }

  /** Block i's gated MLP on its normed input h [B, T, C]: down(act(gate(h)) ⊙ up(h)), act silu or tanh-GELU. */
  protected mlp(g: Graph, i: number, h: Tensor, options: ForwardOptions): Tensor {
    const slot = (n: string) => this.layerFor(`model.layers.${i}.mlp.${n}`, options);
    const gate = slot('gate_proj').forward(g, h);
    const up = slot('up_proj').forward(g, h);
    const gated = this.config.activation === 'silu' ? swiglu(g, gate, up) : mul(g, gelu(g, gate, 'tanh'), up);
    return slot('down_proj').forward(g, gated);
  }

  headWeight(): Tensor {
    return this.config.tieWordEmbeddings ? this.parameter('model.embed_tokens.weight') : this.parameter('lm_head.weight');
  }
}
