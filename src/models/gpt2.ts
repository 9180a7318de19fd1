// GPT-2 (Radford et al. 2019) as Hugging Face's GPT2LMHeadModel computes it:
//   x = wte[ids] + wpe[positions]                                  [B, T, C]
//   per block:  x = x + c_proj(attn(split(c_attn(ln_1(x)))))         causal, H heads of D
//               x = x + mlp.c_proj(gelu_tanh(c_fc(ln_2(x))))
//   logits = ln_f(x) · wteᵀ (tied) or lm_head                      [B, T, V]
// Weights are held in nn.Linear layout [out, in]: HF's Conv1D [in, out] is transposed at load.
// Every add that a LayerNorm reads next runs fused with it (addLayerNorm, one dispatch for x and
// ln(x)): the embedding sum with h.0.ln_1, each block's attention add with ln_2, and each block's
// MLP add with the next ln_1 or ln_f. With activation checkpointing a block's output must be one
// tensor, so the MLP add stays a plain add there.

import type { Gpt2Config } from '../io/hfConfig';
import type { Graph } from '../tensor/graph';
import { attendWithCache } from '../tensor/kvCache';
import { gelu } from '../tensor/ops/activation';
import { causalAttention } from '../tensor/ops/attention';
import { add } from '../tensor/ops/elementwiseOps';
import { embedding } from '../tensor/ops/embedding';
import { addLayerNorm, layerNorm } from '../tensor/ops/norm';
import { splitLastDim } from '../tensor/ops/split';
import type { Tensor } from '../tensor/tensor';
import { tokenIds } from '../tensor/values';
import { CausalLM, type ForwardOptions, type NamedParameter } from './causalLM';
import { DenseLinear } from './linearLayer';
import { InputError } from '../errors';

const PROJECTIONS = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;

export class Gpt2Model extends CausalLM {
  declare readonly config: Gpt2Config;

  constructor(config: Gpt2Config, params: ReadonlyMap<string, NamedParameter>) {
    super(config, params);
    for (let i = 0; i < config.numLayers; i++) {
      for (const p of PROJECTIONS) {
        const name = `h.${i}.${p}`;
        this.slots.set(name, new DenseLinear(name, this.projectionWeight(`${name}.weight`), this.parameter(`${name}.bias`)));
      }
    }
  }

  linearNames(): readonly string[] {
    return [...this.slots.keys()];
  }

  linearRole(name: string): string {
    return name.replace(/^h\.\d+\./, '');
  }

  forwardHidden(g: Graph, ids: Tensor, options: ForwardOptions = {}): Tensor {
    const { numLayers: L, normEps: eps } = this.config;
    const [B, T] = ids.shape as [number, number];
    const start = options.start ?? 0;
    if (start + T > this.config.maxPositions) {
      throw new InputError(`GPT-2 has ${this.config.maxPositions} positions; positions ${start}..${start + T - 1} asked`);
    }
    const positions = Array.from({ length: B * T }, (_, i) => start + (i % T));
    const tokens = embedding(g, ids, this.parameter('wte.weight'));
    const places = embedding(g, tokenIds(g, positions, [B, T], 'positions'), this.parameter('wpe.weight'));
    // The LayerNorm that reads the block input: block i's ln_1, or ln_f after the last block.
    const ln = (i: number): [Tensor, Tensor] => {
      const prefix = i < L ? `h.${i}.ln_1` : 'ln_f';
      return [this.parameter(`${prefix}.weight`), this.parameter(`${prefix}.bias`)];
    };
    if (options.checkpoint) {
      let x = add(g, tokens, places);
      for (let i = 0; i < L; i++) {
        x = this.block(g, x, options, (gb, xb) => {
          const { residual, branch } = this.decoderLayer(gb, i, xb, layerNorm(gb, xb, ...ln(i), eps), options);
          return add(gb, residual, branch);
        });
      }
      return layerNorm(g, x, ...ln(L), eps);
    }
    let { sum: x, normed: h } = addLayerNorm(g, tokens, places, ...ln(0), eps);
    for (let i = 0; i < L; i++) {
      const { residual, branch } = this.decoderLayer(g, i, x, h, options);
      ({ sum: x, normed: h } = addLayerNorm(g, residual, branch, ...ln(i + 1), eps));
    }
    return h;
  }

  /** Block i on x [B, T, C] and h = ln_1(x): its output is residual + branch, left unadded for the caller to fuse with the next LayerNorm. */
  private decoderLayer(g: Graph, i: number, x: Tensor, h: Tensor, options: ForwardOptions): { residual: Tensor; branch: Tensor } {
    const { hiddenSize: C, numHeads: H, headDim: D, normEps: eps } = this.config;
    const start = options.start ?? 0;
    const p = (n: string) => this.parameter(`h.${i}.${n}`);
    const slot = (n: string) => this.layerFor(`h.${i}.${n}`, options);
    const [q, k, v] = splitLastDim(g, slot('attn.c_attn').forward(g, h), [C, C, C]) as [Tensor, Tensor, Tensor];
    const shape = { heads: H, kvHeads: H, headDim: D };
    const a = options.cache ? attendWithCache(g, q, k, v, options.cache, i, { ...shape, start }) : causalAttention(g, q, k, v, shape);
    const { sum: r, normed: h2 } = addLayerNorm(g, x, slot('attn.c_proj').forward(g, a), p('ln_2.weight'), p('ln_2.bias'), eps);
    return { residual: r, branch: slot('mlp.c_proj').forward(g, gelu(g, slot('mlp.c_fc').forward(g, h2), 'tanh')) };
  }

  headWeight(): Tensor {
    return this.config.tieWordEmbeddings ? this.parameter('wte.weight') : this.parameter('lm_head.weight');
  }
}
