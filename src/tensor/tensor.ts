// A value in the autograd graph: GPU data, whether it needs a gradient, and the gradient once
// backward() has run. Leaves (parameters, inputs) are created with `Tensor.leaf`; every other
// Tensor is an op's output, owned and released by its Graph.

import type { GpuTensor } from '../gpu/tensor';

export class Tensor {
  grad: GpuTensor | undefined;

  constructor(
    readonly data: GpuTensor,
    public requiresGrad: boolean,
    readonly name: string,
    readonly isLeaf = false,
  ) {}

  static leaf(data: GpuTensor, requiresGrad: boolean, name: string): Tensor {
    return new Tensor(data, requiresGrad, name, true);
  }

  get shape(): readonly number[] {
    return this.data.shape;
  }
}
