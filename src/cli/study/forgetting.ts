// The study's forgetting figure: each method's loss on the model's held-out pretraining text after
// training against the frozen base's, with the studio's packing of the text (worker/forgetting.ts,
// FORGETTING_TOKENS tokens), the base through worker/baseEval.ts and each method through its
// trainer's `evaluate` (the validation's rule). The text is packed at the model's context length
// (the pretraining format), not at a task's sequence length, so the figure is one measurement for
// every task. The base's loss is taken once per model, text and packing (the frozen model does not
// change during a study: full fine-tuning trains a copy of its own), before any method's init.

import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { TextTokenizer } from '../../io/tokenizer';
import type { CausalLM } from '../../models/causalLM';
import type { Runtime } from '../../tensor/values';
import type { Batch, Trainer } from '../../train/trainer';
import { baseValidationLoss } from '../../worker/baseEval';
import { forgettingBatches, type ForgettingText } from '../../worker/forgetting';
import type { ForgettingResult } from '../../study/results';

/** The held-out text and the tokenizer that packs it. */
export interface HeldoutText extends ForgettingText {
  readonly tokenizer: TextTokenizer;
}

/** The packed text and the frozen base's loss on it. */
export interface HeldoutProbe {
  readonly name: string;
  readonly batches: readonly Batch[];
  /** Predicted (scored) tokens. */
  readonly tokens: number;
  readonly baseLoss: number;
}

const probes = new WeakMap<CausalLM, Map<string, Promise<HeldoutProbe>>>();

async function measureBase(rt: Runtime, model: CausalLM, heldout: HeldoutText, rows: number): Promise<HeldoutProbe> {
  const batches = forgettingBatches(heldout.tokenizer, heldout, model.config.maxPositions, rows);
  let tokens = 0;
  for (const b of batches) for (let i = 0; i < b.targets.length; i++) if (b.targets[i]! >= 0) tokens++;
  return { name: heldout.name, batches, tokens, baseLoss: await baseValidationLoss(rt, model, batches) };
}

/** The probe for `model`, measured on first use and kept while the model lives. */
export function heldoutProbe(rt: Runtime, model: CausalLM, heldout: HeldoutText, rows: number): Promise<HeldoutProbe> {
  const key = `${heldout.name}\u0000${heldout.text}\u0000${rows}`;
  let byText = probes.get(model);
  if (!byText) probes.set(model, (byText = new Map()));
  let probe = byText.get(key);
  if (!probe) {
    const measured = measureBase(rt, model, heldout, rows);
    byText.set(key, measured);
    measured.catch(() => byText.delete(key));
    probe = measured;
  }
  return probe;
}

/** The base row's figure (loss = baseLoss, delta 0), or a trained method's through its trainer (NaN once its weights are not finite). */
export async function forgettingOf(probe: HeldoutProbe, trainer?: Pick<Trainer, 'evaluate'>): Promise<ForgettingResult> {
  const loss = trainer ? await trainer.evaluate(probe.batches) : probe.baseLoss;
  return { text: probe.name, tokens: probe.tokens, baseLoss: probe.baseLoss, loss, delta: loss - probe.baseLoss };
}

/** The model folder's heldout.txt (named "<folder>/heldout.txt"), or undefined when it has none. */
export async function loadHeldout(modelDir: string, tokenizer: TextTokenizer): Promise<HeldoutText | undefined> {
  try {
    return { name: `${basename(resolve(modelDir))}/heldout.txt`, text: await readFile(join(modelDir, 'heldout.txt'), 'utf8'), tokenizer };
  } catch {
    return undefined;
  }
}
