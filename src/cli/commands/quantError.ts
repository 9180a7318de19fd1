// `quant-error <model-dir> --rank r --iters T`: the PiSSA paper's quantization-error table
// (ADAPTERS.md, QPiSSA). For every target projection, the error of the initialised layer
// E = W − (deq(nf4(W')) + s·B·A) with W' the matrix that was quantized, for the registry's
// quantized methods as their definitions declare them (MethodDefinition.quantError):
//   baseline  W' = W, no adapter term (B = 0): NF4(W) − W (QLoRA);
//   reduced   an init that shrinks that error in T rounds (LoftQ: quantize first, then factor the
//             error; QPiSSA: PiSSA's principal factors, the residual quantized); T = 1 and T shown;
// as the Frobenius norm and the nuclear norm (sum of singular values, the paper's metric), and
// the reduction ratio (1 − ‖E_m‖_* / ‖E_baseline‖_*) × 100 % per layer and averaged per layer type.
// The errors are the ones the methods measure right after create() (AdaptedModel.measureQuantErrors,
// computed on the GPU by linalg/quantInit.ts with the GPU NF4 kernel, bitsandbytes-exact; the
// nuclear norm exact up to min(out, in) = 256 (128 on a software adapter) and a randomized
// estimate with an error bound above, which each entry names in `nuclearMethod`); a T-round run
// records every round, so T = 1 is read from round 1 of the same run. alpha = r
// (s = 1), as in the paper; NF4 block 64 without double quantization unless --double-quant.
// Columns and JSON keys are the method ids.

import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import { METHODS } from '../../adapters/registry';
import type { AdaptedModel, LayerQuantError, MethodDefinition, MethodId, QuantErrorPoint } from '../../adapters/types';
import { loadCausalLM, releaseModel } from '../../models/load';
import { InternalError } from '../../errors';
import { formatTable, initError, methodSettings, openModelDir, parseRoles, targetsOrUsage, writeJson, type CliEnv } from './common';

export const quantErrorSpec: CommandSpec = {
  name: 'quant-error',
  summary: `Quantization error of ${quantMethodsLabel()} per layer (Frobenius, nuclear, reduction ratio).`,
  positionals: [{ name: 'model-dir', description: 'model folder (config.json + safetensors)' }],
  flags: {
    rank: { type: 'int', value: 'R', min: 1, default: 8, description: 'adapter rank r (alpha = r, so s = 1)' },
    iters: { type: 'int', value: 'T', min: 1, max: 16, default: 5, description: 'alternating rounds of the error-reducing inits (T = 1 is shown too)' },
    targets: { type: 'string', value: 'ROLES', default: 'all', description: 'projections: q,k,v,o,gate,up,down or all' },
    'double-quant': { type: 'boolean', description: 'double-quantize the block absmax values (the paper measures without)' },
    niter: { type: 'int', value: 'K', min: 0, max: 64, default: 4, description: 'randomized-SVD power iterations' },
    'exact-svd': { type: 'boolean', description: 'one-sided Jacobi SVD instead of the randomized one' },
    seed: { type: 'int', value: 'S', min: 0, default: 0, description: 'seed of the randomized SVD' },
    json: { type: 'boolean', description: 'print the errors as JSON' },
  },
  examples: ['quant-error path/to/model --rank 16 --iters 5', 'quant-error path/to/model --rank 8 --iters 5 --targets q,k --json'],
};

export interface NormPair {
  readonly frobenius: number;
  readonly nuclear: number;
  /** Exact singular values, or the randomized estimate (with its bound `nuclearError`). */
  readonly nuclearMethod: QuantErrorPoint['nuclearMethod'];
  readonly nuclearError?: number;
}

export interface MethodError extends NormPair {
  /** (1 − ‖E‖_* / ‖E_baseline‖_*) × 100 */
  readonly reduction: number;
}

export interface LayerErrors {
  readonly layer: string;
  readonly role: string;
  /** The baseline method's error NF4(W) − W (its iteration 0). */
  readonly baseline: NormPair;
  /** Rounds 1..T of each error-reducing method, by id. */
  readonly methods: Readonly<Record<MethodId, readonly MethodError[]>>;
}

export interface QuantErrorResult {
  readonly config: {
    model: string;
    rank: number;
    iterations: number;
    doubleQuant: boolean;
    niter: number;
    exactSvd: boolean;
    targets: readonly string[];
    /** The method whose error is the reference (quantError 'baseline'). */
    baseline: MethodId;
    /** The error-reducing methods (quantError 'reduced'), in registry order. */
    methods: readonly MethodId[];
  };
  readonly layers: readonly LayerErrors[];
  /** Mean reduction per layer type (and 'all') of each method after round 1 (`first`) and round T (`last`). */
  readonly averages: Readonly<
    Record<string, { readonly layers: number; readonly methods: Readonly<Record<MethodId, { readonly first: number; readonly last: number }>> }>
  >;
}

/** The baseline method and the error-reducing ones, as the registry declares them. */
export function quantMethods(): { baseline: MethodDefinition | undefined; reduced: MethodDefinition[] } {
  return { baseline: METHODS.find((m) => m.quantError === 'baseline'), reduced: METHODS.filter((m) => m.quantError === 'reduced') };
}

function quantMethodsLabel(): string {
  const { baseline, reduced } = quantMethods();
  return [baseline, ...reduced]
    .filter((m) => m !== undefined)
    .map((m) => m.label)
    .join(', ');
}

function normPair(e: QuantErrorPoint): NormPair {
  return {
    frobenius: e.frobenius,
    nuclear: e.nuclear,
    nuclearMethod: e.nuclearMethod,
    ...(e.nuclearError === undefined ? {} : { nuclearError: e.nuclearError }),
  };
}

function reduction(e: number, base: number): number {
  return base > 0 ? (1 - e / base) * 100 : 0;
}

export async function runQuantError(args: ParsedArgs, env: CliEnv): Promise<QuantErrorResult> {
  const { io } = env;
  const rank = args.number('rank', 8);
  const T = args.number('iters', 5);
  const doubleQuant = args.bool('double-quant');
  const niter = args.number('niter', 4);
  const exactSvd = args.bool('exact-svd');
  const seed = args.number('seed', 0);
  const roles = parseRoles(args.string('targets', 'all'), 'quant-error');
  const { baseline, reduced } = quantMethods();
  if (!baseline) throw new InternalError('no registered method declares the baseline quantization error');
  // One set of flags for every method; each takes the settings its schema has.
  const flags: readonly (readonly [string, string])[] = [
    ['rank', String(rank)],
    ['alpha', String(rank)],
    ['doubleQuant', String(doubleQuant)],
    ['iterations', String(T)],
    ['niter', String(niter)],
    ['exactSvd', String(exactSvd)],
  ];
  const runs = [baseline, ...reduced].map((method) => ({
    method,
    settings: methodSettings(
      method,
      flags.filter(([key]) => method.settings.some((spec) => spec.key === key)),
      'quant-error',
    ),
  }));

  const source = await openModelDir(args.positionals[0]!);
  const rt = await env.gpu();
  const model = await loadCausalLM(rt, source, { trainable: false });
  try {
    const targets = targetsOrUsage(model, roles, 'quant-error');
    const tooSmall = targets.map((t) => model.linear(t)).find((l) => Math.min(l.inFeatures, l.outFeatures) < rank);
    if (tooSmall) {
      throw new UsageError(
        `--rank ${rank} is more than ${tooSmall.name}'s smaller side (${tooSmall.outFeatures} × ${tooSmall.inFeatures}); use a smaller --rank or --targets`,
        'quant-error',
      );
    }
    const errors = new Map<MethodId, readonly LayerQuantError[]>();
    for (const { method, settings } of runs) {
      const started = performance.now();
      let adapted: AdaptedModel;
      try {
        adapted = await method.create({ rt, model, targets, seed, learningRate: 1e-4 }, settings);
      } catch (error) {
        throw initError(method.id, error);
      }
      const initialised = performance.now();
      try {
        if (!adapted.measureQuantErrors) throw new InternalError(`${method.id} reported no quantization errors`);
        errors.set(method.id, (await adapted.measureQuantErrors(rt)).layers);
      } finally {
        adapted.release(rt);
      }
      const points = errors.get(method.id)!.flatMap((l) => l.errors);
      const estimated = points.filter((e) => e.nuclearMethod === 'randomized').length;
      io.err(
        `${method.id}: ${targets.length} layers, init ${((initialised - started) / 1000).toFixed(1)} s, errors ${((performance.now() - initialised) / 1000).toFixed(1)} s ` +
          `(nuclear norms: ${points.length - estimated} exact, ${estimated} randomized estimates)\n`,
      );
    }
    const byLayer = (id: MethodId, layer: string) => {
      const e = errors.get(id)!.find((x) => x.layer === layer);
      if (!e) throw new InternalError(`${id} has no error for ${layer}`);
      return e.errors;
    };
    const ids = reduced.map((m) => m.id);
    const layers: LayerErrors[] = targets.map((layer) => {
      const q = byLayer(baseline.id, layer).find((e) => e.iteration === 0);
      if (!q) throw new InternalError(`${baseline.id} has no iteration-0 error for ${layer}`);
      const rounds = (id: MethodId) =>
        byLayer(id, layer)
          .filter((e) => e.iteration >= 1)
          .sort((a, b) => a.iteration - b.iteration)
          .map((e) => ({ ...normPair(e), reduction: reduction(e.nuclear, q.nuclear) }));
      return { layer, role: model.linearRole(layer), baseline: normPair(q), methods: Object.fromEntries(ids.map((id) => [id, rounds(id)])) };
    });
    const groups = new Map<string, LayerErrors[]>();
    for (const l of layers) groups.set(l.role, [...(groups.get(l.role) ?? []), l]);
    groups.set('all', layers);
    const mean = (ls: readonly LayerErrors[], pick: (l: LayerErrors) => number) => ls.reduce((n, l) => n + pick(l), 0) / ls.length;
    const roundsOf = (l: LayerErrors, id: MethodId) => l.methods[id]!;
    const averages: Record<string, QuantErrorResult['averages'][string]> = {};
    for (const [role, ls] of groups) {
      averages[role] = {
        layers: ls.length,
        methods: Object.fromEntries(
          ids.map((id) => [id, { first: mean(ls, (l) => roundsOf(l, id)[0]!.reduction), last: mean(ls, (l) => roundsOf(l, id).at(-1)!.reduction) }]),
        ),
      };
    }
    const result: QuantErrorResult = {
      config: { model: args.positionals[0]!, rank, iterations: T, doubleQuant, niter, exactSvd, targets: roles, baseline: baseline.id, methods: ids },
      layers,
      averages,
    };
    if (args.bool('json')) {
      writeJson(io, result);
      return result;
    }
    const pct = (v: number) => `${v.toFixed(1)} %`;
    const nuc = (v: number) => v.toPrecision(5);
    // One column per method (T = 1), or two: after round 1 and after round T.
    const cols = ids.flatMap((id) => (T === 1 ? [id] : [`${id} T=1`, `${id} T=${T}`]));
    const pick = <E>(first: E, last: E) => (T === 1 ? [first] : [first, last]);
    io.out(
      `NF4 quantization error, rank ${rank}, alpha ${rank}, ${doubleQuant ? 'double quantization' : 'no double quantization'}; ` +
        `‖E‖_* (nuclear norm) and the reduction against ${baseline.label}\n`,
    );
    const all = [...errors.values()].flatMap((ls) => ls.flatMap((l) => l.errors));
    const estimated = all.filter((e) => e.nuclearMethod === 'randomized');
    const worst = Math.max(0, ...estimated.map((e) => (100 * (e.nuclearError ?? 0)) / e.nuclear));
    io.out(
      estimated.length === 0
        ? 'every nuclear norm exact (singular values)\n\n'
        : `${estimated.length} of ${all.length} nuclear norms are randomized estimates (the larger layers; stated error ≤ ${worst.toFixed(2)} %, each one's in --json), the rest exact\n\n`,
    );
    io.out(
      formatTable(
        ['layer', 'role', `${baseline.id} ‖E‖_F`, `${baseline.id} ‖E‖_*`, ...cols.flatMap((c) => [`${c} ‖E‖_*`, 'red.'])],
        layers.map((l) => [
          l.layer,
          l.role,
          nuc(l.baseline.frobenius),
          nuc(l.baseline.nuclear),
          ...ids.flatMap((id) => pick(roundsOf(l, id)[0]!, roundsOf(l, id).at(-1)!)).flatMap((e) => [nuc(e.nuclear), pct(e.reduction)]),
        ]),
      ),
    );
    io.out('\nmean reduction ratio per layer type\n\n');
    io.out(
      formatTable(
        ['type', 'layers', ...cols],
        [...groups.keys()].map((role) => {
          const a = averages[role]!;
          return [role, String(a.layers), ...ids.flatMap((id) => pick(a.methods[id]!.first, a.methods[id]!.last)).map(pct)];
        }),
      ),
    );
    return result;
  } finally {
    releaseModel(rt, model);
  }
}
