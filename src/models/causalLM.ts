// What every causal language model here offers the trainers, adapters and generation: its
// parameters by Hugging Face name, its projections as replaceable linear slots, and
// forward(ids [B, T]) → logits [B, T, V]. GPT-2 (gpt2.ts) and the Llama family (llama.ts)
// implement it; load.ts builds one from a Hugging Face folder.

import type { ModelConfig } from '../io/hfConfig';
import type { Graph } from '../tensor/graph';
import type { KvCache } from '../tensor/kvCache';
import type { Tensor } from '../tensor/tensor';
import type { LinearLayer } from './linearLayer';

export interface ForwardOptions {
  /** Position of the first token (generation with a cache); 0 by default. */
  readonly start?: number;
  /** Keys and values of earlier positions; this call appends its own. Inference only. */
  readonly cache?: KvCache;
  /**
   * Projections to use instead of the model's own, by module path. This is how several methods
   * share one frozen model: each passes its adapted layers; the rest (embeddings, norms,
   * untargeted projections) is shared.
   */
  readonly linears?: ReadonlyMap<string, LinearLayer>;
}

export type ParameterKind = 'embedding' | 'linear' | 'bias' | 'norm';

export interface NamedParameter {
  /** Hugging Face tensor name (GPT-2 without the `transformer.` prefix). */
  readonly name: string;
  readonly tensor: Tensor;
  readonly kind: ParameterKind;
}

export abstract class CausalLM {
  protected readonly slots = new Map<string, LinearLayer>();

  constructor(
    readonly config: ModelConfig,
    /** Every parameter, by HF name; tied embeddings appear once. */
    protected readonly params: ReadonlyMap<string, NamedParameter>,
  ) {}

  /** ids u32 [B, T] → logits [B, T, V] */
  abstract forward(g: Graph, ids: Tensor, options?: ForwardOptions): Tensor;

  /** Module paths of the projections (adapter targets), in layer order. */
  abstract linearNames(): readonly string[];

  /** Short role of a projection for target selection and per-type charts (q, k, v, o, gate, up, down; GPT-2: c_attn, c_proj, c_fc, mlp.c_proj). */
  abstract linearRole(name: string): string;

  parameters(): NamedParameter[] {
    return [...this.params.values()];
  }

  parameter(name: string): Tensor {
    const p = this.params.get(name);
    if (!p) throw new Error(`model has no parameter ${name}`);
    return p.tensor;
  }

  linear(name: string): LinearLayer {
    const layer = this.slots.get(name);
    if (!layer) throw new Error(`model has no linear layer ${name}`);
    return layer;
  }

  /** The projection a forward pass uses: the override from `options.linears`, else the model's. */
  protected layerFor(name: string, options: ForwardOptions): LinearLayer {
    return options.linears?.get(name) ?? this.linear(name);
  }

  /** Puts `layer` in the slot `name` (same shape); returns what was there. */
  replaceLinear(name: string, layer: LinearLayer): LinearLayer {
    const old = this.linear(name);
    if (old.inFeatures !== layer.inFeatures || old.outFeatures !== layer.outFeatures) {
      throw new Error(`${name}: replacement is [${layer.outFeatures}, ${layer.inFeatures}], slot is [${old.outFeatures}, ${old.inFeatures}]`);
    }
    this.slots.set(name, layer);
    return old;
  }

  /** Marks every parameter trainable (full fine-tuning) or frozen. */
  setTrainable(trainable: boolean): void {
    for (const p of this.params.values()) p.tensor.requiresGrad = trainable;
  }
}
