// An adapter layer's init snapshot (host copies of its trainable tensors, taken by snapshot())
// back on the GPU for an "at init" merge: constant tensors shaped like the live ones, released
// together once the merge is recorded.

import { Tensor } from '../../tensor/tensor';
import { releaseTensors, type Runtime } from '../../tensor/values';

export class SnapshotUploads {
  private readonly uploads: Tensor[] = [];

  constructor(private readonly rt: Runtime) {}

  /** `data` (the snapshot of `like`) as a constant tensor of like's shape. */
  upload(data: Float32Array, like: Tensor): Tensor {
    const t = Tensor.leaf(this.rt.uploadF32(data, like.shape, `${like.name} (init)`), false, `${like.name} (init)`);
    this.uploads.push(t);
    return t;
  }

  release(): void {
    releaseTensors(this.rt, ...this.uploads);
  }
}
