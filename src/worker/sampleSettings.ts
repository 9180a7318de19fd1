// The sampling settings of a studio run's samples (ComparisonParams' sample* fields): their
// defaults, allowed ranges (the Training form shows them), and the decoding a run uses, checked.
// Pure: the page imports this for the ranges; worker/samples.ts generates.
//
// Greedy decoding picks the most likely token (ties: the lowest id); otherwise tokens are drawn
// from softmax(logits / temperature) within the top-k most likely and then the top-p nucleus
// (models/sampling.ts), from one seeded stream per sample: the same run gives the same samples.

import { InputError } from '../errors';
import type { ComparisonParams } from './protocol';

export interface SampleBounds {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
}

/** Allowed values of the numeric settings (the form and the worker check the same ranges). */
export const SAMPLE_BOUNDS = {
  maxTokens: { min: 1, max: 512, integer: true },
  temperature: { min: 0.01, max: 5 },
  topK: { min: 0, max: 100_000, integer: true },
  topP: { min: 0.01, max: 1 },
} as const satisfies Record<string, SampleBounds>;

/** The longest prompt and stop string accepted, in characters. */
export const SAMPLE_PROMPT_CHARS = 4000;
export const SAMPLE_STOP_CHARS = 100;

export type SampleFields = Required<
  Pick<
    ComparisonParams,
    'samplesOn' | 'samplePrompt' | 'sampleMaxTokens' | 'sampleGreedy' | 'sampleTemperature' | 'sampleTopK' | 'sampleTopP' | 'sampleStopAtEos' | 'sampleStop'
  >
>;

/** What a new studio run samples with: on, 32 greedy tokens from the first validation row's prompt, stopping at EOS. */
export const DEFAULT_SAMPLE_FIELDS: SampleFields = {
  samplesOn: true,
  samplePrompt: '',
  sampleMaxTokens: 32,
  sampleGreedy: true,
  sampleTemperature: 0.8,
  sampleTopK: 40,
  sampleTopP: 0.95,
  sampleStopAtEos: true,
  sampleStop: '',
};

/** How one continuation is decoded. */
export interface Decoding {
  readonly maxNewTokens: number;
  /** 0: greedy. */
  readonly temperature: number;
  /** 0: every token. */
  readonly topK: number;
  /** 1: every token. */
  readonly topP: number;
  readonly stopAtEos: boolean;
  /** '': none. */
  readonly stopString: string;
  readonly seed: number;
}

function checkNumber(label: string, value: number, { min, max, integer }: SampleBounds): void {
  const ok = Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isInteger(value));
  if (!ok)
    throw new InputError(
      `sample ${label} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, is ${value}; change it under Training, Samples`,
    );
}

/**
 * The decoding of a run's samples and the prompt the user typed ('' for the default), or null
 * when samples are off (also when the settings are absent: runs from the CLI or older pages).
 * Throws an InputError naming the setting that is out of range.
 */
export function sampleDecoding(params: ComparisonParams): { readonly decoding: Decoding; readonly prompt: string } | null {
  if (!params.samplesOn) return null;
  const f: SampleFields = { ...DEFAULT_SAMPLE_FIELDS, ...definedOnly(params) };
  checkNumber('max tokens', f.sampleMaxTokens, SAMPLE_BOUNDS.maxTokens);
  if (!f.sampleGreedy) {
    checkNumber('temperature', f.sampleTemperature, SAMPLE_BOUNDS.temperature);
    checkNumber('top-k', f.sampleTopK, SAMPLE_BOUNDS.topK);
    checkNumber('top-p', f.sampleTopP, SAMPLE_BOUNDS.topP);
  }
  if (f.samplePrompt.length > SAMPLE_PROMPT_CHARS)
    throw new InputError(`the sample prompt has ${f.samplePrompt.length} characters; at most ${SAMPLE_PROMPT_CHARS} are used`);
  if (f.sampleStop.length > SAMPLE_STOP_CHARS)
    throw new InputError(`the sample stop string has ${f.sampleStop.length} characters; at most ${SAMPLE_STOP_CHARS} are allowed`);
  return {
    prompt: f.samplePrompt,
    decoding: {
      maxNewTokens: f.sampleMaxTokens,
      temperature: f.sampleGreedy ? 0 : f.sampleTemperature,
      topK: f.sampleGreedy ? 0 : f.sampleTopK,
      topP: f.sampleGreedy ? 1 : f.sampleTopP,
      stopAtEos: f.sampleStopAtEos,
      stopString: f.sampleStop,
      seed: params.seed,
    },
  };
}

function definedOnly(params: ComparisonParams): Partial<SampleFields> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_SAMPLE_FIELDS)) {
    const v = (params as unknown as Record<string, unknown>)[key];
    if (v !== undefined) out[key] = v;
  }
  return out as Partial<SampleFields>;
}

/** A stop string as typed in one line: a new line as \n, a tab as \t, a backslash as \\. */
export function escapeStop(stop: string): string {
  return stop.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

/** The stop string a typed line means (escapeStop's inverse; a lone backslash stays one). */
export function unescapeStop(typed: string): string {
  return typed.replace(/\\(\\|n|t)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}
