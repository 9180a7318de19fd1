// GPT-2 (Radford et al. 2019) as Hugging Face's GPT2LMHeadModel computes it:
//   x = wte[ids] + wpe[positions]                                  [B, T, C]
//   per block:  x = x + c_proj(attn(split(c_attn(ln_1(x)))))         causal, H heads of D
//               x = x + mlp.c_proj(gelu_tanh(c_fc(ln_2(x))))
//   logits = ln_f(x) · wteᵀ (tied) or lm_head                      [B, T, V]
// Weights are held in nn.Linear layout [out, in]: HF's Conv1D [in, out] is transposed at load.

import type { Gpt2Config } from '../io/hfConfig';
import type { Graph } from '../tensor/graph';
import { attendWithCache } from '../tensor/kvCache';
import { gelu } from '../tensor/ops/activation';
import { causalAttention } from '../tensor/ops/attention';
import { add } from '../tensor/ops/elementwiseOps';
import { embedding } from '../tensor/ops/embedding';
import { layerNorm } from '../tensor/ops/norm';
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
    let x = add(g, embedding(g, ids, this.parameter('wte.weight')), embedding(g, tokenIds(g, positions, [B, T], 'positions'), this.parameter('wpe.weight')));
    for (let i = 0; i < L; i++) x = this.block(g, x, options, (gb, xb) => this.decoderLayer(gb, i, xb, options));
    return layerNorm(g, x, this.parameter('ln_f.weight'), this.parameter('ln_f.bias'), eps);
  }

  /** Block i: x [B, T, C] → x [B, T, C]. */
  private decoderLayer(g: Graph, i: number, x: Tensor, options: ForwardOptions): Tensor {
    const { hiddenSize: C, numHeads: H, headDim: D, normEps: eps } = this.config;
    const start = options.start ?? 0;
    const p = (n: string) => this.parameter(`h.${i}.${n}`);
    const slot = (n: string) => this.layerFor(`h.${i}.${n}`, options);
    const h = layerNorm(g, x, p('ln_1.weight'), p('ln_1.bias'), eps);
    const [q, k, v] = splitLastDim(g, slot('attn.c_attn').forward(g, h), [C, C, C]) as [Tensor, Tensor, Tensor];
    const shape = { heads: H, kvHeads: H, headDim: D };
    const a = options.cache ? attendWithCache(g, q, k, v, options.cache, i, { ...shape, start }) : causalAttention(g, q, k, v, shape);
    const r = add(g, x, slot('attn.c_proj').forward(g, a));
    const h2 = layerNorm(g, r, p('ln_2.weight'), p('ln_2.bias'), eps);
    return add(g, r, slot('mlp.c_proj').forward(g, gelu(g, slot('mlp.c_fc').forward(g, h2), 'tanh')));
  }

  headWeight(): Tensor {
    return this.config.tieWordEmbeddings ? this.parameter('wte.weight') : this.parameter('lm_head.weight');
  }
}
