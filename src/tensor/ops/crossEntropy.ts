// Mean token cross-entropy: loss [1] = (1/count) Σ over counted rows n of −log softmax(logits[n])[targets[n]]
// with logits [N, V] (or [B, T, V], leading dimensions flattened) and targets [N] (or [B, T]),
// dtype i32. Target −100 (PyTorch's ignore_index) means "not counted"; so does any other target
// outside [0, V), since nothing is validated on the GPU. count is computed on the GPU (no readback);
// when it is 0 the loss is 0 and the gradient 0.
// Backward (gy = ∂L/∂loss [1]): ∂L/∂logits[n] = gy · (softmax(logits[n]) − onehot(targets[n])) / count
// on counted rows, 0 on ignored rows. Forward keeps the row maxima and Σexp sums for it.

import { crossEntropyBackwardInto, crossEntropyForwardInto, crossEntropySavedSize } from '../../kernels/crossEntropy';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { InternalError } from '../../errors';

export function crossEntropy(g: Graph, logits: Tensor, targets: Tensor): Tensor {
  if (targets.requiresGrad) throw new InternalError(`crossEntropy: targets "${targets.name}" must not require a gradient`);
  const V = logits.shape[logits.shape.length - 1] ?? 0;
  const N = V > 0 ? logits.data.size / V : 0;
  const saved = g.scratch([crossEntropySavedSize(N)], 'crossEntropy saved'); // m [N], s [N], rowLoss [N], count [1]
  const lossData = g.ctx.empty([1], 'f32', 'crossEntropy loss');
  try {
    crossEntropyForwardInto(g.ctx, logits.data, targets.data, lossData, saved);
  } catch (error) {
    g.ctx.release(lossData);
    throw error;
  }
  const loss = g.output(lossData, [logits], 'crossEntropy');
  g.record('crossEntropy', loss, (gy) => {
    if (!logits.requiresGrad) return;
    const dlogits = g.ctx.empty(logits.shape, 'f32', 'crossEntropy dlogits');
    g.accumulate(logits, crossEntropyBackwardInto(g.ctx, logits.data, targets.data, saved, gy, dlogits));
  });
  return loss;
}
