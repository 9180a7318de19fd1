// Checkpoints of an interleaved run, GPU side: capture every method's state as host data (the
// io/checkpointFile.ts format), and put it back into a freshly started run so that training
// continues bit for bit as if it had never stopped.
//
// A method's state: its trainable tensors, their AdamW m, v and t, its trainer's step count (the
// schedule's position), whether and why it stopped, its divergence monitor. The run's: the step
// and the random streams. The only stream training draws from is the batch order, a pure
// function of (seed, step) (io/datasets.ts createBatcher), so the step is its position; nothing
// in a training step is random (no dropout), and inits draw from seeded counters.
//
// Frozen bases (PiSSA's residual, QLoRA's NF4 copy, SPP's pruned weights, LoRA-SB's frozen
// factors, VeRA's shared projections) are NOT stored: a restore runs each method's init again
// (InterleavedRun.add) and then verifies it. Why: they are as large as the targeted weights (a
// dense residual is 4 bytes a weight, per method and per checkpoint), and building a method's
// layers from stored bases would need a restore path in every method definition (adapters/),
// where an init is one deterministic function of the model, the seed and the calibration
// batches. The verification: a fingerprint of each adapted projection's effective weight at init
// (base + the init's adapter, AdaptedModel.effectiveWeight(…, 'init')), taken once per method when
// the first checkpoint is captured and compared after the re-init: if another device, driver or
// version of the init gives other bits, the resume is refused instead of silently diverging.
// The cost of a resume is one init per method (the same as starting); trainable tensors are then
// overwritten, so their init values do not matter.

import type { AdaptedModel } from '../adapters/types';
import {
  checkCheckpointMatches,
  f32Fingerprint,
  tensorKey,
  type Checkpoint,
  type CheckpointMethod,
  type FrozenFingerprint,
  type ManifestDraft,
  type MethodHistory,
  type MethodIdentity,
  type RunIdentity,
} from '../io/checkpointFile';
import { formatShape } from '../io/safetensors';
import { readTensor, type Runtime } from '../tensor/values';
import { InputError, InternalError } from '../errors';
import type { InterleavedRun, RunningMethod } from './compare';
import { DivergenceMonitor, nonFiniteMessage, type NonFiniteReport } from './health';
import type { MethodStart } from './methodRun';

/** What captureCheckpoint gives: the manifest without its file fields, and the tensors by key. */
export interface CapturedCheckpoint {
  readonly draft: ManifestDraft;
  readonly tensors: Map<string, Float32Array>;
}

/** The random streams of a run at `step` (see the header). */
function rngAt(seed: number, step: number): ManifestDraft['rng'] {
  return [{ stream: 'batch order', seed, position: step }];
}

/** A method's identity as a checkpoint records it, from how it was started. */
export function methodIdentity(start: MethodStart, startStep: number, id = start.id): MethodIdentity {
  return {
    id,
    settings: { ...start.settings },
    startStep,
    learningRate: start.learningRate,
    clipNorm: start.clipNorm ?? 0,
    weightDecay: start.weightDecay ?? 0,
  };
}

/**
 * Refuses (InputError) a checkpoint made by another run, before any method is initialised:
 * `starts` are the methods about to be added, with resolved settings, all from step 0.
 */
export function checkResume(checkpoint: Checkpoint, where: string, identity: RunIdentity, starts: readonly MethodStart[]): void {
  checkCheckpointMatches(
    checkpoint.manifest,
    where,
    identity,
    starts.map((s) => methodIdentity(s, 0)),
  );
}

const frozenCache = new WeakMap<AdaptedModel, readonly FrozenFingerprint[]>();

/** Fingerprints of every adapted projection's effective weight at init (see the header); computed once per method. */
async function frozenFingerprints(rt: Runtime, adapted: AdaptedModel): Promise<readonly FrozenFingerprint[]> {
  const cached = frozenCache.get(adapted);
  if (cached) return cached;
  const out: FrozenFingerprint[] = [];
  for (const layer of adapted.linears.keys()) {
    const view = adapted.effectiveWeight(rt, layer, 'init');
    try {
      out.push({ layer, fingerprint: f32Fingerprint(await readTensor(rt, view.tensor)) });
    } finally {
      if (view.owned) rt.release(view.tensor.data);
    }
  }
  frozenCache.set(adapted, out);
  return out;
}

function stoppedOf(method: RunningMethod<unknown>, step: number): CheckpointMethod['stopped'] {
  const halt = method.halt;
  if (halt) return { step: halt.step, reason: halt.detail, source: halt.source, layer: halt.layer, tensor: halt.tensor, value: halt.value };
  return method.stopped ? { step, reason: 'stopped' } : undefined;
}

/**
 * The state of every method of `run` after `step` updates (call it between steps, once the last
 * step's metrics have arrived). `history` adds what the host reported of each method so far.
 */
export async function captureCheckpoint<T>(
  rt: Runtime,
  run: InterleavedRun<T>,
  options: { readonly identity: RunIdentity; readonly step: number; readonly history?: (method: RunningMethod<T>) => MethodHistory | undefined },
): Promise<CapturedCheckpoint> {
  const tensors = new Map<string, Float32Array>();
  const methods: CheckpointMethod[] = [];
  for (const [i, method] of run.methods.entries()) {
    const state = await method.trainer.readState();
    const names = new Set<string>();
    for (const t of state.tensors) {
      const { name } = t.tensor;
      if (names.has(name)) throw new InternalError(`${method.id} has two trainable tensors named "${name}"; a checkpoint cannot tell them apart`);
      names.add(name);
      tensors.set(tensorKey(i, name, 'value'), t.value);
      tensors.set(tensorKey(i, name, 'adam_m'), t.m);
      tensors.set(tensorKey(i, name, 'adam_v'), t.v);
    }
    const stopped = stoppedOf(method, options.step);
    const history = options.history?.(method);
    methods.push({
      ...methodIdentity(method.start, method.startStep, method.id),
      settings: { ...method.settings },
      trainerSteps: state.steps,
      health: method.health.state(),
      frozen: await frozenFingerprints(rt, method.adapted),
      tensors: state.tensors.map((t) => ({ name: t.tensor.name, shape: [...t.tensor.shape], adamSteps: t.adamSteps })),
      ...(stopped ? { stopped } : {}),
      ...(history ? { history } : {}),
    });
  }
  return {
    draft: { createdAt: new Date().toISOString(), step: options.step, run: options.identity, rng: rngAt(options.identity.seed, options.step), methods },
    tensors,
  };
}

/**
 * Puts a checkpoint's state into `run`, whose methods were just added (initialised) in the
 * checkpoint's order with the same settings. Refuses (InputError) another run's checkpoint, a
 * tensor that is missing or shaped otherwise, and a frozen base the re-init built differently.
 * Returns the step to continue from.
 */
export async function restoreCheckpoint<T>(rt: Runtime, run: InterleavedRun<T>, checkpoint: Checkpoint, where: string, identity: RunIdentity): Promise<number> {
  const { manifest } = checkpoint;
  checkCheckpointMatches(
    manifest,
    where,
    identity,
    run.methods.map((m) => ({ ...methodIdentity(m.start, m.startStep, m.id), settings: { ...m.settings } })),
  );
  const rng = manifest.rng.find((r) => r.stream === 'batch order');
  if (!rng || rng.seed !== identity.seed || rng.position !== manifest.step) {
    throw new InputError(
      `cannot resume from ${where}: its batch-order position (${rng ? `seed ${rng.seed}, step ${rng.position}` : 'none'}) does not match its step ${manifest.step}`,
    );
  }
  const refuse = (method: RunningMethod<T>, what: string): never => {
    throw new InputError(`cannot resume from ${where}: ${method.id}: ${what}. Resume with the settings the checkpoint was made with, or start a new run.`);
  };
  for (const [i, method] of run.methods.entries()) {
    const saved = manifest.methods[i]!;
    const live = method.trainer.trainable.map((t) => t.tensor);
    const liveNames = new Set(live.map((t) => t.name));
    for (const t of saved.tensors) if (!liveNames.has(t.name)) refuse(method, `no trainable tensor "${t.name}" now, but the checkpoint holds one`);
    const values = live.map((tensor, j) => {
      const entry = saved.tensors[j];
      if (!entry || entry.name !== tensor.name) return refuse(method, `trains "${tensor.name}", which the checkpoint does not hold at position ${j}`);
      if (formatShape(entry.shape) !== formatShape(tensor.shape)) {
        return refuse(method, `tensor "${tensor.name}" is ${formatShape(tensor.shape)} now but ${formatShape(entry.shape)} in the checkpoint`);
      }
      const part = (name: 'value' | 'adam_m' | 'adam_v') => {
        const data = checkpoint.tensors.get(tensorKey(i, tensor.name, name));
        return data ?? refuse(method, `tensor "${tensor.name}" has no ${name} in the checkpoint`);
      };
      return { value: part('value'), m: part('adam_m'), v: part('adam_v'), adamSteps: entry.adamSteps };
    });
    const frozen = await frozenFingerprints(rt, method.adapted);
    const savedFrozen = new Map(saved.frozen.map((f) => [f.layer, f.fingerprint]));
    if (frozen.length !== saved.frozen.length) refuse(method, `adapts ${frozen.length} projections now but ${saved.frozen.length} in the checkpoint`);
    for (const { layer, fingerprint } of frozen) {
      const expected = savedFrozen.get(layer);
      if (expected === undefined) refuse(method, `adapts ${layer}, which the checkpoint does not`);
      if (expected !== fingerprint) {
        refuse(
          method,
          `its init built a different frozen base for ${layer} than when the checkpoint was made (fingerprint ${fingerprint}, expected ${expected}): ` +
            'the model weights, the init or the GPU differ, so the resumed run would not continue the same one',
        );
      }
    }
    method.trainer.writeState({ steps: saved.trainerSteps, tensors: values });
    method.health = DivergenceMonitor.fromState(saved.health);
    if (saved.stopped) {
      method.stopped = true;
      const s = saved.stopped;
      const halt: NonFiniteReport | undefined =
        s.source === 'forward activation' || s.source === 'gradient' || s.source === 'optimizer state'
          ? {
              step: s.step,
              source: s.source,
              layer: s.layer ?? '',
              tensor: s.tensor ?? '',
              value: s.value ?? Number.NaN,
              detail: s.reason,
              message: nonFiniteMessage(s.step, s.reason),
            }
          : undefined;
      if (halt) method.halt = halt;
    }
  }
  await rt.sync();
  return manifest.step;
}
