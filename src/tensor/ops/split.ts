// Splits the last dimension into consecutive parts: x [..., Σ sizes] → parts [..., sizes[i]].
// GPT-2's fused attention projection c_attn gives [B, T, 3C], split into q, k, v [B, T, C].
// Backward of part i: ∂L/∂x[..., offset_i : offset_i + size_i] = ∂L/∂part_i, zero elsewhere;
// the graph sums the parts' contributions into x.grad.
// selectPosition takes one position of every sequence: x [B, T, C] → y [B, C] = x[:, t, :]
// (generation needs the hidden state of the last position only). Backward: ∂L/∂x[:, t, :] = ∂L/∂y,
// zero at the other positions.

import { fill } from '../../kernels/elementwise';
import { copyColumns } from '../../kernels/slice';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';
import { InternalError } from '../../errors';

export function splitLastDim(g: Graph, x: Tensor, sizes: readonly number[]): Tensor[] {
  const total = x.shape[x.shape.length - 1] ?? 1;
  if (sizes.reduce((a, b) => a + b, 0) !== total || sizes.some((s) => !Number.isInteger(s) || s <= 0)) {
    throw new InternalError(`splitLastDim: sizes [${sizes.join(',')}] do not partition the last dimension of [${x.shape.join(',')}]`);
  }
  const lead = x.shape.slice(0, -1);
  const parts: Tensor[] = [];
  let offset = 0;
  for (const width of sizes) {
    const start = offset;
    const data = copyColumns(g.ctx, x.data, g.ctx.empty([...lead, width], 'f32', 'split part'), { srcOffset: start, dstOffset: 0, width });
    const part = g.output(data, [x], 'split');
    g.record('split', part, (gy) => {
      const dx = fill(g.ctx, g.ctx.empty(x.shape, 'f32', 'split dx'), 0);
      copyColumns(g.ctx, gy, dx, { srcOffset: 0, dstOffset: start, width });
      g.accumulate(x, dx);
    });
    parts.push(part);
    offset += width;
  }
  return parts;
}

export function selectPosition(g: Graph, x: Tensor, t: number): Tensor {
  const [B, T, C] = x.shape as [number, number, number];
  if (x.shape.length !== 3 || !Number.isInteger(t) || t < 0 || t >= T) {
    throw new InternalError(`selectPosition: position ${t} of [${x.shape.join(',')}] (expected [B, T, C] with 0 ≤ t < T)`);
  }
  // In the [B, T·C] view, position t of every sequence is the column block [t·C, (t + 1)·C).
  const block = { srcOffset: t * C, dstOffset: 0, width: C };
  const data = copyColumns(g.ctx, x.data.view([B, T * C]), g.ctx.empty([B, C], 'f32', 'selected position'), block);
  const y = g.output(data, [x], 'selectPosition');
  g.record('selectPosition', y, (gy) => {
    const dx = fill(g.ctx, g.ctx.empty(x.shape, 'f32', 'selectPosition dx'), 0);
    copyColumns(g.ctx, gy, dx.view([B, T * C]), { srcOffset: 0, dstOffset: t * C, width: C });
    g.accumulate(x, dx);
  });
  return y;
}
