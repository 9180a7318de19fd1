// Random initialisation of LoRA's A [r, in] on the GPU from the seeded counter-based generator
// (tensor/ops/random.ts): Kaiming-uniform with a = √5 over fan_in = in, which is U(−1/√in, 1/√in)
// (PEFT's default, nn.Linear's reset_parameters), or Gaussian N(0, 1/r²), i.e. std 1/r. `stream` separates the
// layers so each gets its own draws from one seed.

import { randomNormal, randomUniform } from '../../tensor/ops/random';
import { Tensor } from '../../tensor/tensor';
import type { Runtime } from '../../tensor/values';

export interface RandomInit {
  readonly seed: number;
  readonly stream: number;
  readonly init: 'kaiming' | 'gaussian';
}

export function randomA(rt: Runtime, shape: readonly [number, number], { seed, stream, init }: RandomInit, name: string): Tensor {
  const [r, inFeatures] = shape;
  const bound = 1 / Math.sqrt(inFeatures);
  const data = init === 'kaiming' ? randomUniform(rt, shape, seed, -bound, bound, stream) : randomNormal(rt, shape, seed, stream, { std: 1 / r });
  return Tensor.leaf(data, true, name);
}
