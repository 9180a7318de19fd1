// `npm run bench -- --train-peer`: the same LoRA training step written in tfjs
// (@tensorflow/tfjs-core ops on tfjs-backend-webgpu, gradients by tf.variableGrads) against ours,
// on the same adapter, the same model (the built-in Llama, or --model DIR for any Llama-family
// folder without q/k norms), the same batch and the same initial adapter factors. Both sides run
// rank-r LoRA (s = 1) on every projection with AdamW (weight decay 0) and global-norm clipping 1
// at a constant learning rate; the loss of every step must agree (the peer is checked, not
// trusted), then the steady-state ms/step of each gives the ratio.
//
// The tfjs model follows Hugging Face's LlamaForCausalLM: RMSNorm (x·rsqrt(mean x² + eps)·w),
// rotate-half RoPE, grouped-query attention by repeating each KV head over its group, causal
// softmax, SwiGLU MLP, untied or tied LM head, mean cross-entropy over the tokens whose target is
// not −100. Each side times: record the step, wait for its loss on the CPU.

import { register } from 'node:module';
import type * as TfjsCore from '@tensorflow/tfjs-core';
import { methodById } from '../src/adapters/registry';
import { selectTargets } from '../src/adapters/targets';
import { resolveSettings } from '../src/adapters/types';
import type { GpuContext } from '../src/gpu/context';
import type { LlamaConfig, ModelConfig } from '../src/io/hfConfig';
import { openModelFiles, readModelTensorAsF32, type ModelSource } from '../src/io/modelFiles';
import { nodeDirectorySources } from '../src/io/nodeSource';
import { loadCausalLM, releaseModel } from '../src/models/load';
import { Trainer, type Batch } from '../src/train/trainer';
import { startTfjsBackend } from './tfjsPeer';

type Tf = typeof TfjsCore;
type T = TfjsCore.Tensor;

export interface TrainPeerOptions {
  readonly modelDir: string;
  readonly batchSize: number;
  readonly seqLen: number;
  /** Timed steps per side, after the warm-up steps. */
  readonly steps: number;
  readonly warmup: number;
  readonly rank: number;
  readonly learningRate: number;
}

export interface TrainPeerSide {
  readonly name: string;
  readonly msPerStep: number;
  readonly tokensPerSecond: number;
  /** Loss of every step, warm-up steps first. */
  readonly losses: readonly number[];
}

export interface TrainPeerResult {
  readonly ours: TrainPeerSide;
  readonly peer: TrainPeerSide;
  /** Largest |ours − peer| / |ours| over the steps' losses. */
  readonly maxLossRelDiff: number;
  readonly trainableParams: number;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPS = 1e-8;
const CLIP = 1;

/** The bench's batch: fixed in-vocabulary ids, next-token targets, the last position ignored. */
export function peerBatch(V: number, B: number, T: number): Batch {
  const ids = Array.from({ length: B * T }, (_, i) => (i * 7919 + 13) % V);
  return { ids, targets: ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!)), batchSize: B, seqLen: T };
}

export async function runTrainPeerBench(ctx: GpuContext, gpu: GPU, options: TrainPeerOptions): Promise<TrainPeerResult> {
  const source = await openModelFiles(await nodeDirectorySources(options.modelDir));
  const cfg = llamaOnly(source.config, options.modelDir);
  const batch = peerBatch(cfg.vocabSize, options.batchSize, options.seqLen);
  const model = await loadCausalLM(ctx, source);
  const method = methodById('lora');
  const targets = selectTargets(model, ['all']);
  const settings = resolveSettings(method, { rank: options.rank, alpha: options.rank });
  const adapted = await method.create({ rt: ctx, model, targets, seed: 1, learningRate: options.learningRate }, settings);
  const factors = new Map<string, Float32Array>();
  for (const t of adapted.trainable) factors.set(t.tensor.name, await ctx.read(t.tensor.data));
  const trainableParams = adapted.trainable.reduce((n, t) => n + t.tensor.data.size, 0);

  let ours: TrainPeerSide;
  const trainer = new Trainer(ctx, adapted, {
    schedule: { kind: 'constant', peak: options.learningRate, warmupSteps: 0, totalSteps: options.warmup + options.steps },
    clipNorm: CLIP,
    weightDecay: 0,
    beta1: BETA1,
    beta2: BETA2,
    eps: EPS,
  });
  try {
    const losses: number[] = [];
    for (let i = 0; i < options.warmup; i++) losses.push((await trainer.step(batch)).loss);
    const t0 = performance.now();
    for (let i = 0; i < options.steps; i++) losses.push((await trainer.step(batch)).loss);
    const ms = (performance.now() - t0) / options.steps;
    ours = { name: 'Adapter Studio (ours)', msPerStep: ms, tokensPerSecond: tokensPerSecond(batch, ms), losses };
  } finally {
    trainer.destroy();
    adapted.release(ctx);
    releaseModel(ctx, model);
  }

  const backend = await startTfjsBackend(gpu);
  // tfjs-core's CommonJS build registers no gradients (the @tensorflow/tfjs bundle imports its ESM
  // register_all_gradients); the registry is global, so the ESM module's registrations serve it.
  register('./tfjsGradientHooks.mjs', import.meta.url);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  try {
    const peer = await tfjsSide(backend.tf, source, targets, factors, batch, options);
    const maxLossRelDiff = Math.max(...ours.losses.map((l, i) => Math.abs(l - peer.losses[i]!) / Math.abs(l)));
    return { ours, peer: { ...peer, name: `tfjs-backend-webgpu ${backend.tf.version_core}` }, maxLossRelDiff, trainableParams };
  } finally {
    backend.dispose();
  }
}

function tokensPerSecond(batch: Batch, ms: number): number {
  return (Array.from(batch.targets).filter((t) => t !== -100).length * 1000) / ms;
}

/** The config, if the peer implements its architecture: Llama without biases, q/k norms, windows or Gemma's changes. */
function llamaOnly(config: ModelConfig, dir: string): LlamaConfig {
  const plain =
    config.family === 'llama' &&
    !config.qkNorm &&
    config.activation === 'silu' &&
    config.normWeightOffset === 0 &&
    !config.sandwichNorms &&
    config.embedScale === 1 &&
    config.slidingWindow === null &&
    !config.mlpBias &&
    !Object.values(config.attentionBias).some(Boolean);
  if (!plain || config.family !== 'llama') throw new Error(`the tfjs peer implements the plain Llama architecture only; ${dir} is not one`);
  return config;
}

async function tfjsSide(
  tf: Tf,
  source: ModelSource,
  targets: readonly string[],
  factors: ReadonlyMap<string, Float32Array>,
  batch: Batch,
  options: TrainPeerOptions,
): Promise<Omit<TrainPeerSide, 'name'>> {
  const cfg = source.config as LlamaConfig;
  const { numHeads: H, numKvHeads: KV, headDim: D, vocabSize: V, normEps } = cfg;
  const B = batch.batchSize;
  const Tn = batch.seqLen;
  const weight = async (name: string): Promise<T> => {
    const t = source.tensorByName.get(name);
    if (!t) throw new Error(`${name} is not in the model`);
    return tf.tensor(await readModelTensorAsF32(t), [...t.shape], 'float32');
  };
  const frozen = new Map<string, T>();
  for (const t of source.tensors) frozen.set(t.name, await weight(t.name));
  const head = frozen.get(cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')!;

  // LoRA factors from our adapter's initial values; AdamW moments beside them.
  const lora = new Map<string, { A: TfjsCore.Variable; B: TfjsCore.Variable }>();
  for (const name of targets) {
    const w = frozen.get(`${name}.weight`)!;
    const [out, inF] = w.shape as [number, number];
    const a = factors.get(`${name}.lora_A`);
    const b = factors.get(`${name}.lora_B`);
    if (!a || !b) throw new Error(`no LoRA factors for ${name}`);
    lora.set(name, { A: tf.variable(tf.tensor2d(a, [options.rank, inF])), B: tf.variable(tf.tensor2d(b, [out, options.rank])) });
  }
  const variables = [...lora.values()].flatMap((f) => [f.A, f.B]);
  const moments = variables.map((v) => ({ m: tf.variable(tf.zerosLike(v), false), v: tf.variable(tf.zerosLike(v), false) }));

  // Constants: ids, targets, the loss mask, RoPE tables, the causal mask.
  const ids = tf.tensor1d(Array.from(batch.ids), 'int32');
  const safeTargets = tf.tensor1d(
    Array.from(batch.targets, (t) => (t < 0 ? 0 : t)),
    'int32',
  );
  const counted = Array.from(batch.targets).filter((t) => t !== -100).length;
  const mask = tf.tensor1d(Array.from(batch.targets, (t) => (t === -100 ? 0 : 1)));
  const half = D / 2;
  const angles = new Float32Array(Tn * D);
  for (let t = 0; t < Tn; t++) {
    for (let j = 0; j < half; j++) {
      const a = t * Math.pow(cfg.layers[0]!.ropeTheta, (-2 * j) / D);
      angles[t * D + j] = a;
      angles[t * D + half + j] = a;
    }
  }
  const anglesT = tf.tensor3d(angles, [Tn, 1, D]);
  const cos = tf.cos(anglesT);
  const sin = tf.sin(anglesT);
  const causal = tf.tensor2d(
    Array.from({ length: Tn * Tn }, (_, i) => (i % Tn > Math.floor(i / Tn) ? -1e9 : 0)),
    [Tn, Tn],
  );
  const scale = cfg.attentionScale;
  const kvOfHead = tf.tensor1d(
    Array.from({ length: H }, (_, j) => Math.floor(j / (H / KV))),
    'int32',
  );

  const rms = (x: T, name: string): T => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), normEps))), frozen.get(name)!);
  const linear = (x: T, name: string): T => {
    const y = tf.matMul(x, frozen.get(`${name}.weight`)!, false, true);
    const f = lora.get(name);
    return f ? tf.add(y, tf.matMul(tf.matMul(x, f.A, false, true), f.B, false, true)) : y;
  };
  const rope = (x: T): T => {
    const [b, t, n] = x.shape as [number, number, number, number];
    const x1 = tf.slice(x, [0, 0, 0, 0], [b, t, n, half]);
    const x2 = tf.slice(x, [0, 0, 0, half], [b, t, n, half]);
    return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), sin));
  };
  const heads = (x: T, n: number): T => {
    let h = tf.reshape(x, [B, Tn, n, D]);
    if (n < H) h = tf.gather(h, kvOfHead, 2); // head j reads KV head ⌊j / (H/KV)⌋ (HF's repeat_kv)
    return tf.transpose(h, [0, 2, 1, 3]);
  };
  const lossOf = (): TfjsCore.Scalar => {
    let x = tf.gather(frozen.get('model.embed_tokens.weight')!, ids);
    for (let i = 0; i < cfg.numLayers; i++) {
      const p = `model.layers.${i}`;
      const h = rms(x, `${p}.input_layernorm.weight`);
      const q = heads(rope(tf.reshape(linear(h, `${p}.self_attn.q_proj`), [B, Tn, H, D])), H);
      const k = heads(rope(tf.reshape(linear(h, `${p}.self_attn.k_proj`), [B, Tn, KV, D])), KV);
      const v = heads(linear(h, `${p}.self_attn.v_proj`), KV);
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), scale), causal);
      const attended = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v), [0, 2, 1, 3]), [B * Tn, H * D]);
      x = tf.add(x, linear(attended, `${p}.self_attn.o_proj`));
      const h2 = rms(x, `${p}.post_attention_layernorm.weight`);
      const gate = linear(h2, `${p}.mlp.gate_proj`);
      x = tf.add(x, linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), linear(h2, `${p}.mlp.up_proj`)), `${p}.mlp.down_proj`));
    }
    const logits = tf.matMul(rms(x, 'model.norm.weight'), head, false, true);
    const picked = tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(safeTargets, V)), 1);
    return tf.div(tf.neg(tf.sum(tf.mul(picked, mask))), counted);
  };

  let t = 0;
  const step = async (): Promise<number> => {
    t++;
    const { value, grads } = tf.variableGrads(lossOf, variables);
    tf.tidy(() => {
      const gs = variables.map((v) => grads[v.name]!);
      // Pairwise adds: tf.addN binds every input at once, over the device's storage-buffer limit.
      const norm = tf.sqrt(gs.map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b)));
      const clip = tf.minimum(1, tf.div(CLIP, tf.add(norm, 1e-6)));
      const stepSize = options.learningRate / (1 - Math.pow(BETA1, t));
      const bc2Sqrt = Math.sqrt(1 - Math.pow(BETA2, t));
      variables.forEach((v, i) => {
        const g = tf.mul(gs[i]!, clip);
        const { m, v: s } = moments[i]!;
        m.assign(tf.add(tf.mul(m, BETA1), tf.mul(g, 1 - BETA1)));
        s.assign(tf.add(tf.mul(s, BETA2), tf.mul(tf.square(g), 1 - BETA2)));
        v.assign(tf.sub(v, tf.mul(stepSize, tf.div(m, tf.add(tf.div(tf.sqrt(s), bc2Sqrt), EPS)))));
      });
    });
    const [loss] = await value.data();
    tf.dispose([value, ...Object.values(grads)]);
    return loss!;
  };

  try {
    const losses: number[] = [];
    for (let i = 0; i < options.warmup; i++) losses.push(await step());
    const t0 = performance.now();
    for (let i = 0; i < options.steps; i++) losses.push(await step());
    const ms = (performance.now() - t0) / options.steps;
    return { msPerStep: ms, tokensPerSecond: tokensPerSecond(batch, ms), losses };
  } finally {
    tf.dispose([...frozen.values(), ...variables, ...moments.flatMap((m) => [m.m, m.v]), ids, safeTargets, mask, anglesT, cos, sin, causal, kvOfHead]);
  }
}

export function formatTrainPeer(r: TrainPeerResult, batch: { B: number; T: number }): string {
  const rows = [r.ours, r.peer].map(
    (s) => `${s.name.padEnd(32)} ${s.msPerStep.toFixed(0).padStart(8)} ms/step ${s.tokensPerSecond.toFixed(1).padStart(8)} tokens/s`,
  );
  return [
    `LoRA step, B=${batch.B}, T=${batch.T}, ${r.trainableParams} trainable parameters, same batch and initial factors on both sides:`,
    ...rows,
    `ours / tfjs speed: ${(r.peer.msPerStep / r.ours.msPerStep).toFixed(2)}×; losses per step (ours | tfjs): ${r.ours.losses
      .map((l, i) => `${l.toFixed(5)} | ${r.peer.losses[i]!.toFixed(5)}`)
      .join(', ')}; largest relative difference ${r.maxLossRelDiff.toExponential(2)}`,
  ].join('\n');
}
