// A projection weight the loader does not hold (loadCausalLM's deferProjections, for a run whose
// every method quantizes W into a 4-bit base of its own at init). The model lists it as a parameter
// with its name, shape and storage, and its DenseLinear reads it from the checkpoint when an init
// asks (hold: a byte-range read of the safetensors file, converted and uploaded as the loader
// would have), to release it again once that init is done with it (drop, or the base releaser,
// train/baseRelease.ts). So a 4-bit init holds one layer's 16-bit W at a time, never the whole base.
// Until held, and once released, its tensor is a released one: the forward pass and denseWeight
// refuse it (models/linearLayer.ts releasedError).

import type { Tensor } from '../tensor/tensor';
import { releaseTensors, type Runtime } from '../tensor/values';
import type { NamedParameter } from './causalLM';

export class DeferredWeight implements NamedParameter {
  readonly kind = 'linear';
  private current: Tensor;

  constructor(
    readonly name: string,
    /** The unheld stand-in (tensor/values.ts unheldParameter): shape and storage as loaded. */
    placeholder: Tensor,
    /** Reads the weight from the checkpoint and uploads it as the loader holds it. */
    private readonly read: (rt: Runtime) => Promise<Tensor>,
  ) {
    this.current = placeholder;
  }

  get tensor(): Tensor {
    return this.current;
  }

  get held(): boolean {
    return !this.current.data.released;
  }

  /** Reads W from the checkpoint unless it is held; returns whether it read it now. */
  async hold(rt: Runtime): Promise<boolean> {
    if (this.held) return false;
    this.current = await this.read(rt);
    return true;
  }

  /** Releases W (it can be read again with hold). */
  drop(rt: Runtime): void {
    releaseTensors(rt, this.current);
  }
}
