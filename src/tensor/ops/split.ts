// Splits the last dimension into consecutive parts: x [..., Σ sizes] → parts [..., sizes[i]].
// GPT-2's fused attention projection c_attn gives [B, T, 3C], split into q, k, v [B, T, C].
// Backward of part i: ∂L/∂x[..., offset_i : offset_i + size_i] = ∂L/∂part_i, zero elsewhere;
// the graph sums the parts' contributions into x.grad.

import { fill } from '../../kernels/elementwise';
import { copyColumns } from '../../kernels/slice';
import type { Graph } from '../graph';
import type { Tensor } from '../tensor';

export function splitLastDim(g: Graph, x: Tensor, sizes: readonly number[]): Tensor[] {
  const total = x.shape[x.shape.length - 1] ?? 1;
  if (sizes.reduce((a, b) => a + b, 0) !== total || sizes.some((s) => !Number.isInteger(s) || s <= 0)) {
    throw new Error(`splitLastDim: sizes [${sizes.join(',')}] do not partition the last dimension of [${x.shape.join(',')}]`);
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
