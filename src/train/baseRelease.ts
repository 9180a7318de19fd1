// Releasing the shared frozen model's projection weights once no method of a run uses them
// (issue 11, item 2: 4-bit methods hold only 4 bits). QLoRA, QPiSSA and LoftQ quantize W at init
// into a 4-bit base of their own and never read the shared W again while training; when every
// method of a run does so (or trains its own copy of the model, as full fine-tuning does), the
// shared 16-bit (or f32) projection weights are dead weight: Qwen2.5-0.5B's are 0.72 GB in bf16
// beside 0.23 GB of NF4. Embeddings, norms, biases, the LM head and untargeted projections stay.
// Methods that keep the original W (LoRA, DoRA, …) all read the one shared copy; nothing is
// released while any of them is in the run.
// Hosts call releaseUnusedBase after every method of the run is initialised and before step 1
// (CLI compare and train, the study). Afterwards the released projections refuse to run with a
// message that says to reload the model (models/linearLayer.ts releasedError): a method added
// mid-run (checkBaseHeld refuses it before its init), the base model's own evaluation, and a
// quantization-error measurement all need W.
// So the errors still pending are measured first, unless the host says it will not ask for them
// (`measureQuantErrors: false`); a later measureQuantErrors then gets that refusal.
// The init's peak: released only after the inits, the whole 16-bit base sits beside every NF4
// copy. BaseReleaser.hookFor gives the run's last method to initialise a hook
// (CreateContext.onLayerReady) that frees each projection's W as soon as that method has quantized
// it, when every earlier method of the run is done with it too (measuring the layer's pending
// errors first); the base then shrinks while the NF4 copies grow. finish() releases what is left.
// Deferred: when every method of a run keeps a 4-bit base of its own (defersProjections: the
// method's definition says so before anything is loaded), the host loads the model with
// deferProjections (models/load.ts), so the init never starts with the whole 16-bit base either:
// each init reads a layer's W from the checkpoint, and the hook above (or the init itself, for an
// earlier method) lets it go again.

import { LowRankLayer } from '../adapters/forms/lowRank';
import { Nf4Base } from '../adapters/forms/nf4Base';
import type { AdaptedLayer, AdaptedModel, CreateContext, MethodDefinition } from '../adapters/types';
import type { CausalLM } from '../models/causalLM';
import { DenseLinear, releasedError } from '../models/linearLayer';
import type { Runtime } from '../tensor/values';

export interface BaseReleaseOptions {
  /**
   * Measure the methods' pending quantization errors before the release (they need W); default
   * true. With false they are given up: a host that never reports them saves the time.
   */
  readonly measureQuantErrors?: boolean;
}

export interface BaseRelease {
  /** Module paths of the projections whose shared weights were released, in layer order. */
  readonly released: readonly string[];
  /** Pool bytes freed (size classes included). */
  readonly bytes: number;
  /** The released weights' own bytes as held (2 a weight for a 16-bit checkpoint). */
  readonly weightBytes: number;
}

/**
 * Whether a method reads the shared projection weights only during its init, quantizing each into a
 * 4-bit base of its own (QLoRA, QPiSSA, LoftQ: the methods with a quantization error).
 */
export function keepsOwnFourBitBase(method: Pick<MethodDefinition, 'quantError'>): boolean {
  return method.quantError !== undefined;
}

/**
 * Whether a run of these methods may load its model with deferred projections (models/load.ts
 * deferProjections): every one keeps a 4-bit base of its own, so no step reads the shared W. Any
 * other method in the run (LoRA, PiSSA's residual, full fine-tuning) needs the base held.
 */
export function defersProjections(methods: readonly Pick<MethodDefinition, 'quantError'>[]): boolean {
  return methods.length > 0 && methods.every(keepsOwnFourBitBase);
}

/** Whether an adapted layer runs, merges and exports without the shared projection it replaced: a low-rank layer over a 4-bit base it owns. */
export function ownsItsBase(layer: AdaptedLayer): boolean {
  return layer instanceof LowRankLayer && layer.base instanceof Nf4Base && layer.ownedBase === layer.base;
}

/** The projections of `model` none of `methods` reads: each method either runs its own copy of the model or replaced the slot with a layer that owns its base. */
export function unusedProjections(model: CausalLM, methods: readonly AdaptedModel[]): string[] {
  if (methods.length === 0) return [];
  const held = new Set(model.releasedProjections());
  return model.linearNames().filter((name) => !held.has(name) && doneWith(model, methods, name));
}

/**
 * Releases the shared projection weights no method of the run reads (see the file header); call it
 * once every method is initialised, before the first step. Returns what was released.
 */
export async function releaseUnusedBase(
  rt: Runtime,
  model: CausalLM,
  methods: readonly AdaptedModel[],
  options: BaseReleaseOptions = {},
): Promise<BaseRelease> {
  const names = unusedProjections(model, methods);
  if (names.length === 0) return { released: [], bytes: 0, weightBytes: 0 };
  if (options.measureQuantErrors ?? true) {
    for (const method of methods) await method.measureQuantErrors?.(rt);
  }
  await rt.sync();
  const before = rt.stats().liveBytes;
  const weightBytes = names.reduce((n, name) => n + model.parameter(`${name}.weight`).data.byteLength, 0);
  model.releaseProjections(rt, names);
  return { released: names, bytes: before - rt.stats().liveBytes, weightBytes };
}

/** Whether every method in `methods` is done with the shared W of `name`: it runs its own model copy or owns its base there. */
function doneWith(model: CausalLM, methods: readonly AdaptedModel[], name: string): boolean {
  return methods.every((m) => {
    if (m.model !== model) return true;
    const layer = m.linears.get(name);
    return layer !== undefined && ownsItsBase(layer);
  });
}

/** A run's release of the shared base: layer by layer during its last init (hookFor), then whatever is left (finish). */
export class BaseReleaser {
  private readonly released: string[] = [];
  private bytes = 0;
  private weightBytes = 0;

  constructor(
    private readonly rt: Runtime,
    private readonly model: CausalLM,
    private readonly options: BaseReleaseOptions = {},
  ) {}

  /**
   * The onLayerReady hook for the run's last method to initialise, `earlier` being the methods
   * initialised before it: each layer it owns the base of, and every earlier method is done with,
   * has its pending quantization errors measured (unless measureQuantErrors is false) and its W freed.
   */
  hookFor(earlier: readonly AdaptedModel[]): NonNullable<CreateContext['onLayerReady']> {
    const { rt, model } = this;
    return async (name, layer, measure) => {
      if (!ownsItsBase(layer) || !doneWith(model, earlier, name)) return;
      if (model.releasedProjections().includes(name)) return;
      if (this.options.measureQuantErrors ?? true) {
        for (const method of earlier) await method.measureQuantErrors?.(rt, { layers: [name] });
        await measure?.(rt);
      }
      const before = rt.stats().liveBytes;
      this.weightBytes += model.parameter(`${name}.weight`).data.byteLength;
      model.releaseProjections(rt, [name]);
      this.bytes += before - rt.stats().liveBytes;
      this.released.push(name);
    };
  }

  /** After every init: releases what no method reads and is still held (releaseUnusedBase); returns everything released. */
  async finish(methods: readonly AdaptedModel[]): Promise<BaseRelease> {
    const rest = await releaseUnusedBase(this.rt, this.model, methods, this.options);
    const order = this.model.linearNames();
    const released = [...this.released, ...rest.released].sort((a, b) => order.indexOf(a) - order.indexOf(b));
    return { released, bytes: this.bytes + rest.bytes, weightBytes: this.weightBytes + rest.weightBytes };
  }
}

/**
 * Refuses, before any init, a method whose targets include a released projection (a method added mid-run): every init reads W.
 * A deferred projection (models/load.ts) is read again from the checkpoint by the init that asks.
 */
export function checkBaseHeld(model: CausalLM, targets: readonly string[]): void {
  const released = new Set(model.releasedProjections());
  const first = targets.find((name) => {
    const layer = model.linear(name);
    return released.has(name) && !(layer instanceof DenseLinear && layer.deferred);
  });
  if (first !== undefined) throw releasedError(first);
}
