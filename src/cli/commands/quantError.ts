// `quant-error <model-dir> --rank r --iters T`: the PiSSA paper's quantization-error table
// (ADAPTERS.md, QPiSSA). For every target projection, the error of the initialised layer
// E = W − (deq(nf4(W')) + s·B·A) with W' the matrix that was quantized, for
//   qlora   W' = W, no adapter term (B = 0);
//   loftq   quantize first, then factor the error, T alternating rounds (T = 1 and T shown);
//   qpissa  PiSSA's principal factors, the residual quantized, T rounds (T = 1 and T shown);
// as the Frobenius norm and the nuclear norm (sum of singular values, the paper's metric), and
// the reduction ratio (1 − ‖E_m‖_* / ‖E_qlora‖_*) × 100 % per layer and averaged per layer type.
// The errors are the ones the methods' create() measures at init (AdaptedModel.quantErrors,
// computed on the GPU by linalg/quantInit.ts with the GPU NF4 kernel, bitsandbytes-exact); a
// T-round run records every round, so T = 1 is read from round 1 of the same run. alpha = r
// (s = 1), as in the paper; NF4 block 64 without double quantization unless --double-quant.

import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import { methodById } from '../../adapters/registry';
import type { AdaptedModel, MethodId } from '../../adapters/types';
import { loadCausalLM, releaseModel } from '../../models/load';
import {
  formatTable,
  initError,
  methodSettings,
  openModelDir,
  parseRoles,
  targetsOrUsage,
  writeJson,
  type CliEnv,
} from './common';

export const quantErrorSpec: CommandSpec = {
  name: 'quant-error',
  summary: 'Quantization error of QLoRA, LoftQ and QPiSSA per layer (Frobenius, nuclear, reduction ratio).',
  positionals: [{ name: 'model-dir', description: 'model folder (config.json + safetensors)' }],
  flags: {
    rank: { type: 'int', value: 'R', min: 1, default: 8, description: 'adapter rank r (alpha = r, so s = 1)' },
    iters: { type: 'int', value: 'T', min: 1, max: 16, default: 5, description: 'alternating rounds for LoftQ and QPiSSA (T = 1 is shown too)' },
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
}

export interface MethodError extends NormPair {
  /** (1 − ‖E‖_* / ‖E_qlora‖_*) × 100 */
  readonly reduction: number;
}

export interface LayerErrors {
  readonly layer: string;
  readonly role: string;
  readonly qlora: NormPair;
  /** Rounds 1..T. */
  readonly loftq: readonly MethodError[];
  readonly qpissa: readonly MethodError[];
}

export interface QuantErrorResult {
  readonly config: { model: string; rank: number; iterations: number; doubleQuant: boolean; niter: number; exactSvd: boolean; targets: readonly string[] };
  readonly layers: readonly LayerErrors[];
  /** Mean reduction per layer type (and 'all'), for LoftQ and QPiSSA at T = 1 and T. */
  readonly averages: Readonly<Record<string, { loftq1: number; loftqT: number; qpissa1: number; qpissaT: number; layers: number }>>;
}

function reduction(e: number, qlora: number): number {
  return qlora > 0 ? (1 - e / qlora) * 100 : 0;
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
  const base = [
    ['rank', String(rank)],
    ['alpha', String(rank)],
    ['doubleQuant', String(doubleQuant)],
  ] as const;
  const svd = [
    ['iterations', String(T)],
    ['niter', String(niter)],
    ['exactSvd', String(exactSvd)],
  ] as const;
  const settings = {
    qlora: methodSettings(methodById('qlora'), base, 'quant-error'),
    loftq: methodSettings(methodById('loftq'), [...base, ...svd], 'quant-error'),
    qpissa: methodSettings(methodById('qpissa'), [...base, ...svd], 'quant-error'),
  };

  const source = await openModelDir(args.positionals[0]!);
  const rt = await env.gpu();
  const model = await loadCausalLM(rt, source, { trainable: false });
  try {
    const targets = targetsOrUsage(model, roles, 'quant-error');
    const tooSmall = targets.map((t) => model.linear(t)).find((l) => Math.min(l.inFeatures, l.outFeatures) < rank);
    if (tooSmall) {
      throw new UsageError(`--rank ${rank} is more than ${tooSmall.name}'s smaller side (${tooSmall.outFeatures} × ${tooSmall.inFeatures}); use a smaller --rank or --targets`, 'quant-error');
    }
    const errors = new Map<MethodId, NonNullable<AdaptedModel['quantErrors']>>();
    for (const id of ['qlora', 'loftq', 'qpissa'] as const) {
      const started = performance.now();
      let adapted: AdaptedModel;
      try {
        adapted = await methodById(id).create(
          {
            rt,
            model,
            targets,
            seed,
            learningRate: 1e-4,
          },
          settings[id],
        );
      } catch (error) {
        throw initError(id, error);
      }
      try {
        if (!adapted.quantErrors) throw new Error(`${id} reported no quantization errors`);
        errors.set(id, adapted.quantErrors);
      } finally {
        adapted.release(rt);
      }
      io.err(`${id}: ${targets.length} layers in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    }
    const byLayer = (id: MethodId, layer: string) => {
      const e = errors.get(id)!.find((x) => x.layer === layer);
      if (!e) throw new Error(`${id} has no error for ${layer}`);
      return e.errors;
    };
    const layers: LayerErrors[] = targets.map((layer) => {
      const q = byLayer('qlora', layer).find((e) => e.iteration === 0)!;
      const rounds = (id: MethodId) =>
        byLayer(id, layer)
          .filter((e) => e.iteration >= 1)
          .sort((a, b) => a.iteration - b.iteration)
          .map((e) => ({ frobenius: e.frobenius, nuclear: e.nuclear, reduction: reduction(e.nuclear, q.nuclear) }));
      return { layer, role: model.linearRole(layer), qlora: { frobenius: q.frobenius, nuclear: q.nuclear }, loftq: rounds('loftq'), qpissa: rounds('qpissa') };
    });
    const groups = new Map<string, LayerErrors[]>();
    for (const l of layers) groups.set(l.role, [...(groups.get(l.role) ?? []), l]);
    groups.set('all', layers);
    const mean = (ls: readonly LayerErrors[], pick: (l: LayerErrors) => number) => ls.reduce((n, l) => n + pick(l), 0) / ls.length;
    const averages: Record<string, QuantErrorResult['averages'][string]> = {};
    for (const [role, ls] of groups) {
      averages[role] = {
        loftq1: mean(ls, (l) => l.loftq[0]!.reduction),
        loftqT: mean(ls, (l) => l.loftq[l.loftq.length - 1]!.reduction),
        qpissa1: mean(ls, (l) => l.qpissa[0]!.reduction),
        qpissaT: mean(ls, (l) => l.qpissa[l.qpissa.length - 1]!.reduction),
        layers: ls.length,
      };
    }
    const result: QuantErrorResult = { config: { model: args.positionals[0]!, rank, iterations: T, doubleQuant, niter, exactSvd, targets: roles }, layers, averages };
    if (args.bool('json')) {
      writeJson(io, result);
      return result;
    }
    const pct = (v: number) => `${v.toFixed(1)} %`;
    const nuc = (v: number) => v.toPrecision(5);
    const cols = T === 1 ? ['loftq', 'qpissa'] : ['loftq T=1', `loftq T=${T}`, 'qpissa T=1', `qpissa T=${T}`];
    const pick = (l: LayerErrors) => (T === 1 ? [l.loftq[0]!, l.qpissa[0]!] : [l.loftq[0]!, l.loftq[T - 1]!, l.qpissa[0]!, l.qpissa[T - 1]!]);
    io.out(
      `NF4 quantization error, rank ${rank}, alpha ${rank}, ${doubleQuant ? 'double quantization' : 'no double quantization'}; ` +
        `‖E‖_* (nuclear norm) and the reduction against QLoRA\n\n`,
    );
    io.out(
      formatTable(
        ['layer', 'role', 'qlora ‖E‖_F', 'qlora ‖E‖_*', ...cols.flatMap((c) => [`${c} ‖E‖_*`, 'red.'])],
        layers.map((l) => [l.layer, l.role, nuc(l.qlora.frobenius), nuc(l.qlora.nuclear), ...pick(l).flatMap((e) => [nuc(e.nuclear), pct(e.reduction)])]),
      ),
    );
    io.out('\nmean reduction ratio per layer type\n\n');
    io.out(
      formatTable(
        ['type', 'layers', ...cols],
        [...groups.keys()].map((role) => {
          const a = averages[role]!;
          return [role, String(a.layers), ...(T === 1 ? [a.loftq1, a.qpissa1] : [a.loftq1, a.loftqT, a.qpissa1, a.qpissaT]).map(pct)];
        }),
      ),
    );
    return result;
  } finally {
    releaseModel(rt, model);
  }
}
