// Trained weights that survive a reload, worker side, on the built-in model (kjv-llama-1m) and math
// data with a tiny run (LoRA and PiSSA on q and v, B 1, T 64): a finished run's final checkpoint,
// handed to a new session (a reloaded page: new worker, new device) by restoreTrained, rebuilds
// both methods without training, and generation and PEFT export then give exactly what the
// session that trained them gave. A stopped run's checkpoint does the same for its weights at the
// stop; a checkpoint of other settings is refused, naming the difference.

import { afterAll, describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import type { StudioSession } from './studioSession';
import { destroyTestDevices, openBuiltinSession as openSession } from './testSession';
import type { ComparisonEvent, ComparisonParams, StudioCheckpoint } from './protocol';

afterAll(destroyTestDevices);

const STEPS = 3;
const METHODS = [lora.id, pissa.id];
const PROMPT = 'Question: Ruth has 3 apples and buys 4 more. How many apples does she have now?\nAnswer:';

function params(extra: Partial<ComparisonParams> = {}): ComparisonParams {
  return {
    methods: METHODS.map((id) => ({ id, settings: { rank: 2 } })),
    targets: ['q', 'v'],
    lr: 5e-2,
    schedule: 'constant',
    warmup: 0,
    steps: STEPS,
    batch: 1,
    seqLen: 64,
    seed: 5,
    evalEvery: 100,
    clipNorm: 1,
    validationRows: 1,
    validationFraction: 0.1,
    accuracyQuestions: 0,
    ...extra,
  };
}

function checkpointsOf(events: readonly ComparisonEvent[]): StudioCheckpoint[] {
  return events.flatMap((e) => (e.type === 'checkpoint' ? [e.checkpoint] : []));
}

/** What each method generates (greedy) and its PEFT adapter's files, byte for byte. */
async function outputsOf(session: StudioSession): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const id of METHODS) {
    const generated = await session.generate({ methodId: id, prompt: PROMPT, maxNewTokens: 12 }, () => undefined);
    out.set(`${id} text`, `${generated.tokens}:${generated.text}`);
    const exported = await session.exportMethod({ methodId: id, format: 'peft' });
    for (const f of exported.files) out.set(`${id} ${f.name}`, Buffer.from(f.data).toString('base64'));
  }
  return out;
}

describe('trained weights rebuilt from a checkpoint', () => {
  it('generates and exports after a "reload" exactly as the session that trained them', async () => {
    const trainer = await openSession();
    const events: ComparisonEvent[] = [];
    const result = await trainer.startComparison(params(), (e) => events.push(e));
    expect(result.stopped).toBe(false);
    const [final] = checkpointsOf(events);
    expect(final?.step).toBe(STEPS);
    const trainedOutputs = await outputsOf(trainer);
    // The methods learned something: the base model continues differently from at least one of them.
    const base = await trainer.generate({ prompt: PROMPT, maxNewTokens: 12 }, () => undefined);
    expect(METHODS.some((id) => trainedOutputs.get(`${id} text`) !== `${base.tokens}:${base.text}`)).toBe(true);

    const reloaded = await openSession();
    await expect(reloaded.generate({ methodId: lora.id, prompt: PROMPT, maxNewTokens: 4 }, () => undefined)).rejects.toThrow(/has not been trained/);
    const started = performance.now();
    expect(await reloaded.restoreTrained(params(), final!)).toEqual(METHODS);
    console.log(
      `restoreTrained: ${METHODS.length} methods from a ${final!.tensors.byteLength}-byte checkpoint in ${(performance.now() - started).toFixed(0)} ms`,
    );
    const restoredOutputs = await outputsOf(reloaded);
    expect([...restoredOutputs.keys()].sort()).toEqual([...trainedOutputs.keys()].sort());
    for (const [key, value] of trainedOutputs) expect(restoredOutputs.get(key), key).toBe(value);
    expect(restoredOutputs.get(`${lora.id} adapter_model.safetensors`)?.length).toBeGreaterThan(100);
  }, 600_000);

  it("rebuilds a stopped run's weights at its stop, and refuses a checkpoint of other settings", async () => {
    const trainer = await openSession();
    const events: ComparisonEvent[] = [];
    const result = await trainer.startComparison(params({ steps: 6 }), (e) => {
      events.push(e);
      // Stopped after step 2, recorded before step 1's events (steps overlap).
      if (e.type === 'step' && e.point.step === 1 && e.method === pissa.id) void trainer.stopComparison();
    });
    expect(result.stopped).toBe(true);
    const saved = checkpointsOf(events);
    expect(saved.map((c) => c.step)).toEqual([2]);
    const stoppedText = await trainer.generate({ methodId: pissa.id, prompt: PROMPT, maxNewTokens: 8 }, () => undefined);

    const reloaded = await openSession();
    await expect(reloaded.restoreTrained(params({ steps: 6, lr: 1e-3 }), saved[0]!)).rejects.toThrow(/lr is 0\.05 in the checkpoint, 0\.001 now/);
    expect(await reloaded.restoreTrained(params({ steps: 6 }), saved[0]!)).toEqual(METHODS);
    const restoredText = await reloaded.generate({ methodId: pissa.id, prompt: PROMPT, maxNewTokens: 8 }, () => undefined);
    expect(restoredText.text).toBe(stoppedText.text);
  }, 600_000);
});
