// Wrapper of shaders/embedding.wgsl: token embedding gather and its deterministic scatter-add.
//   embeddingForward(ids [...] u32, table [V, C]) → out [..., C]      (ids of any shape, N of them)
//     table f32, or packed 16-bit (frozen bf16/f16, gpu/tensor.ts), unpacked exactly in the gather
//   embeddingBackwardInto(ids [...] u32, gy [..., C], dTable [V, C], accumulate)
//     dTable[v] (+)= Σ over tokens n with id v of gy[n]; repeated ids accumulate, in token order.
// Ids are not checked against V (that would need a readback): the shader clamps an id ≥ V to row
// V − 1, so nothing is read or written out of bounds, but such a token silently uses the last row.
// No float atomics: results are bit-for-bit repeatable.
// A table (or dTable) held as row blocks (gpu/rowBlocks.ts) takes one dispatch per block, each
// gathering or scattering only the tokens whose rows it holds: the same values as one table.

import source from '../../shaders/embedding.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import { rowBlocksOf } from '../gpu/rowBlocks';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { fill, gridFor, workgroupGrid } from './elementwise';
import { ADAPTER_VARIANTS, adapterVariantChoice } from './adapterVariant';

const shader = defineShader('embedding', source);

/** Invocations per workgroup (the shader's WG override) for the forward gather. */
const WG = 256;

/**
 * Backward workgroup width: each pass over a block of WG columns rescans the ids of the later
 * tokens, so wide rows get wide workgroups (C = 768: 3 scans instead of 12); narrow rows get 64 so
 * most invocations have a column.
 */
function backwardWorkgroupSize(C: number): number {
  return C <= 64 ? 64 : 256;
}

interface EmbeddingShapes {
  readonly N: number;
  readonly C: number;
  readonly V: number;
}

function checkShapes(kernel: string, ids: GpuTensor, table: { shape: readonly number[] }, shapes: string): EmbeddingShapes {
  if (ids.dtype !== 'u32') throw new GpuError(`ids must be u32, are ${ids.dtype}`, kernel, shapes);
  if (table.shape.length !== 2) throw new GpuError('the table must be [V, C]', kernel, shapes);
  const [V, C] = table.shape as [number, number];
  if (V < 1) throw new GpuError('the table has no rows (V = 0)', kernel, shapes);
  return { N: ids.size, C, V };
}

/** out [...ids.shape, C] = rows of table [V, C] picked by ids (ids ≥ V read row V − 1). */
export function embeddingForward(ctx: GpuContext, ids: GpuTensor, table: GpuTensor, out?: GpuTensor): GpuTensor {
  const shapes = `ids ${ids.describe()}, table ${table.describe()}${out ? `, out ${out.describe()}` : ''}`;
  const { N, C, V } = checkShapes('embeddingForward', ids, table, shapes);
  if (table.dtype !== 'f32' && !table.half) throw new GpuError(`table must be f32 or packed 16-bit, is ${table.dtype}`, 'embeddingForward', shapes);
  const outShape = [...ids.shape, C];
  if (out && (out.dtype !== 'f32' || out.shape.join(',') !== outShape.join(','))) {
    throw new GpuError(`output must be f32 [${outShape.join(',')}]`, 'embeddingForward', shapes);
  }
  const result = out ?? ctx.empty(outShape, 'f32', 'embedding output');
  const blocks = rowBlocksOf(table);
  for (const { tensor: block, row0, rows } of blocks) {
    ctx.dispatch({
      shader,
      entryPoint: table.half ? 'embedding_forward_half' : 'embedding_forward',
      constants: { WG, ACCUMULATE: false, FORMAT: table.half === 'f16' ? 2 : 1 },
      bindings: table.half ? { ids, src: ctx.placeholder(), dst: result, table_half: block } : { ids, src: block, dst: result, table_half: ctx.placeholder() },
      params: { N, C, V, row0, rows },
      workgroups: gridFor(ctx, N * C, WG),
      label: `embeddingForward ${shapes}${blocks.length > 1 ? ` rows ${row0}..${row0 + rows - 1}` : ''}`,
      cost: { flops: 0, bytes: (4 * N + (table.half ? 6 : 8) * N * C) / blocks.length },
    });
  }
  return result;
}

/**
 * dTable [V, C] (+)= scatter-add of gy [...ids.shape, C] by ids. Without `accumulate`, dTable is
 * overwritten (zero-filled first); with it, the sums are added to what dTable holds.
 */
export const EMBEDDING_BACKWARD_VARIANTS = ADAPTER_VARIANTS;
/** Barrier-free on software adapters, a workgroup per token with reductions on real GPUs (unless forced). */
const backwardVariants = adapterVariantChoice();
/** Tests: embeddingBackwardInto on ctx uses `variant` from now on (undefined: the adapter's choice again). */
export const forceEmbeddingBackwardVariant = backwardVariants.force;

export function embeddingBackwardInto(ctx: GpuContext, ids: GpuTensor, gy: GpuTensor, dTable: GpuTensor, accumulate = false): GpuTensor {
  const shapes = `ids ${ids.describe()}, gy ${gy.describe()}, dTable ${dTable.describe()}`;
  const { N, C, V } = checkShapes('embeddingBackward', ids, dTable, shapes);
  if (gy.dtype !== 'f32' || dTable.dtype !== 'f32') throw new GpuError('gy and dTable must be f32', 'embeddingBackward', shapes);
  if (gy.shape.join(',') !== [...ids.shape, C].join(',')) {
    throw new GpuError(`gy must be [${[...ids.shape, C].join(',')}]`, 'embeddingBackward', shapes);
  }
  const blocks = rowBlocksOf(dTable);
  for (const { tensor: block, row0, rows } of blocks) {
    if (gy.buffer === block.buffer) throw new GpuError('dTable must not alias gy', 'embeddingBackward', shapes);
    if (!accumulate) fill(ctx, block, 0);
    const serial = backwardVariants.of(ctx) === 'serial';
    ctx.dispatch({
      shader,
      entryPoint: serial ? 'embedding_backward_serial' : 'embedding_backward',
      constants: { WG: serial ? WG : backwardWorkgroupSize(C), ACCUMULATE: accumulate },
      bindings: { ids, src: gy, dst: block, table_half: ctx.placeholder() },
      params: { N, C, V, row0, rows },
      workgroups: serial ? gridFor(ctx, N * Math.ceil(C / 4), WG) : workgroupGrid(N, ctx.device.limits.maxComputeWorkgroupsPerDimension),
      label: `embeddingBackward ${shapes}${blocks.length > 1 ? ` rows ${row0}..${row0 + rows - 1}` : ''}${accumulate ? ' (accumulate)' : ''}`,
      // Scatter-add: ids and gy read, each touched dTable row read and written.
      cost: { flops: (N * C) / blocks.length, bytes: (4 * (N + 3 * N * C)) / blocks.length },
    });
  }
  return dTable;
}
