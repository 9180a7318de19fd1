// What every causal language model here offers the trainers, adapters and generation: its
// parameters by Hugging Face name, its projections as replaceable linear slots, and
//   forwardHidden(ids [B, T]) → h [B, T, C]  (after the final norm),  headWeight() → W [V, C],
//   forward(ids) → logits [B, T, V] = h Wᵀ        (the logits command, comparisons with references),
//   lastLogits(ids) → [B, V]                       (generation: the head on the last position only),
//   loss(ids, targets) → mean cross-entropy [1]    (training: lmHeadLoss, chunked over the tokens,
//                                                   so the logits [B, T, V] are never all held).
// GPT-2 (gpt2.ts) and the Llama family (llama.ts) implement the first two; load.ts builds one from
// a Hugging Face folder.

import type { ModelConfig } from '../io/hfConfig';
import type { Graph } from '../tensor/graph';
import type { KvCache } from '../tensor/kvCache';
import { checkOutputFits, linear } from '../tensor/ops/linear';
import { lmHeadLoss, type LmHeadLossOptions } from '../tensor/ops/lmHeadLoss';
import { selectPosition } from '../tensor/ops/split';
import type { Tensor } from '../tensor/tensor';
import { DeferredWeight } from './deferredWeight';
import { DenseLinear, type LinearLayer } from './linearLayer';
import { releaseTensors, type Runtime } from '../tensor/values';
import { InternalError } from '../errors';

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
  /**
   * Activation checkpointing (training): each block keeps only its output, and backward runs it
   * again (Graph.checkpoint). Same gradients, less memory, one more forward pass per step.
   */
  readonly checkpoint?: boolean;
}

/** Forward options plus the byte budget of one chunk of logits (see lmHeadLoss). */
export interface LossOptions extends ForwardOptions, LmHeadLossOptions {}

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

  /** ids u32 [B, T] → hidden states after the final norm [B, T, C] */
  abstract forwardHidden(g: Graph, ids: Tensor, options?: ForwardOptions): Tensor;

  /** The LM head's weight W [V, C] (the token embedding when tied). */
  abstract headWeight(): Tensor;

  /** ids u32 [B, T] → logits [B, T, V] */
  forward(g: Graph, ids: Tensor, options: ForwardOptions = {}): Tensor {
    checkOutputFits(g, ids.data.size, this.config.vocabSize, 'the logits');
    return linear(g, this.forwardHidden(g, ids, options), this.headWeight());
  }

  /** ids u32 [B, T] → logits of the last position of each sequence [B, V] */
  lastLogits(g: Graph, ids: Tensor, options: ForwardOptions = {}): Tensor {
    const T = ids.shape[1]!;
    return linear(g, selectPosition(g, this.forwardHidden(g, ids, options), T - 1), this.headWeight());
  }

  /** Mean cross-entropy [1] of the next-token logits against targets i32 [B, T] (−100: not counted). */
  loss(g: Graph, ids: Tensor, targets: Tensor, options: LossOptions = {}): Tensor {
    return lmHeadLoss(g, this.forwardHidden(g, ids, options), this.headWeight(), targets, options);
  }

  /** Module paths of the projections (adapter targets), in layer order. */
  abstract linearNames(): readonly string[];

  /** Short role of a projection for target selection and per-type charts (q, k, v, o, gate, up, down; GPT-2: c_attn, c_proj, c_fc, mlp.c_proj). */
  abstract linearRole(name: string): string;

  parameters(): NamedParameter[] {
    return [...this.params.values()];
  }

  parameter(name: string): Tensor {
    const p = this.params.get(name);
    if (!p) throw new InternalError(`model has no parameter ${name}`);
    return p.tensor;
  }

  /** A projection's weight as its DenseLinear reads it: the tensor, or the loader's DeferredWeight that reads it on demand. */
  protected projectionWeight(name: string): Tensor | DeferredWeight {
    const p = this.params.get(name);
    return p instanceof DeferredWeight ? p : this.parameter(name);
  }

  linear(name: string): LinearLayer {
    const layer = this.slots.get(name);
    if (!layer) throw new InternalError(`model has no linear layer ${name}`);
    return layer;
  }

  /** x [B, T, C] → block(x) [B, T, C], through g.checkpoint when options.checkpoint asks. */
  protected block(g: Graph, x: Tensor, options: ForwardOptions, block: (g: Graph, x: Tensor) => Tensor): Tensor {
    return options.checkpoint ? g.checkpoint((inner) => block(inner, x), 'block') : block(g, x);
  }

  /** The projection a forward pass uses: the override from `options.linears`, else the model's. */
  protected layerFor(name: string, options: ForwardOptions): LinearLayer {
    return options.linears?.get(name) ?? this.linear(name);
  }

  /** Puts `layer` in the slot `name` (same shape); returns what was there. */
  replaceLinear(name: string, layer: LinearLayer): LinearLayer {
    const old = this.linear(name);
    if (old.inFeatures !== layer.inFeatures || old.outFeatures !== layer.outFeatures) {
      throw new InternalError(`${name}: replacement is [${layer.outFeatures}, ${layer.inFeatures}], slot is [${old.outFeatures}, ${old.inFeatures}]`);
    }
    this.slots.set(name, layer);
    return old;
  }

  /**
   * Frees the frozen weights of these projections, which no method uses any more (train/baseRelease.ts
   * decides). Their slots keep their DenseLinear (shape and bias: the 4-bit bases share the bias),
   * which then refuses to run or hand out W with a message that says to reload the model. The
   * parameters keep their names (exports list them), released.
   */
  releaseProjections(rt: Runtime, names: readonly string[]): void {
    for (const name of names) {
      const layer = this.linear(name);
      if (!(layer instanceof DenseLinear)) throw new InternalError(`${name} is not the model's own dense projection; it cannot be released`);
      if (!layer.released) releaseTensors(rt, layer.weight);
    }
  }

  /**
   * Reads the weights of these deferred projections (models/load.ts deferProjections) from the
   * checkpoint and keeps them: the untargeted ones, which the forward pass runs as they are.
   */
  async holdProjections(rt: Runtime, names: readonly string[]): Promise<void> {
    for (const name of names) {
      const layer = this.linear(name);
      if (layer instanceof DenseLinear) await layer.hold(rt);
    }
  }

  /** Projections whose frozen weights were released (releaseProjections), in layer order. */
  releasedProjections(): string[] {
    return this.linearNames().filter((name) => {
      const layer = this.slots.get(name);
      return layer instanceof DenseLinear && layer.released;
    });
  }

  /** Marks every parameter trainable (full fine-tuning) or frozen. */
  setTrainable(trainable: boolean): void {
    for (const p of this.params.values()) p.tensor.requiresGrad = trainable;
  }
}
