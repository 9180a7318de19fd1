// A kernel family with one variant for software adapters (SwiftShader: barrier-free serial loops,
// since workgroup barriers are very expensive there) and one for real GPUs (workgroup reductions),
// chosen by adapter.info per context; tests force either.

import type { GpuContext } from '../gpu/context';

export type AdapterVariant = 'serial' | 'workgroup';
export const ADAPTER_VARIANTS: readonly AdapterVariant[] = ['serial', 'workgroup'];

export interface AdapterVariantChoice {
  /** Tests: the family uses `variant` on ctx from now on (undefined: the adapter's choice again). */
  force(ctx: GpuContext, variant: AdapterVariant | undefined): void;
  /** The forced variant, else serial on software adapters and workgroup on real GPUs. */
  of(ctx: GpuContext): AdapterVariant;
}

export function adapterVariantChoice(): AdapterVariantChoice {
  const forced = new WeakMap<GpuContext, AdapterVariant>();
  return {
    force(ctx, variant) {
      if (variant) forced.set(ctx, variant);
      else forced.delete(ctx);
    },
    of: (ctx) => forced.get(ctx) ?? (ctx.info.isSoftware ? 'serial' : 'workgroup'),
  };
}
