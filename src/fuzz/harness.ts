// Runs fuzz cases and classifies each outcome:
//   accepted  every entry point read the input;
//   refused   a typed StudioError whose message names the file (or the saved run) and carries no
//             stack trace: what the user sees, and all they should see;
//   crash     anything else thrown (TypeError, a raw RangeError, …);
//   message   a typed refusal that fails the message standard: it names no file, shows a stack
//             trace, or runs past MAX_MESSAGE_CHARS (a megabyte-long name copied from the file);
//   hang      the case took longer than HANG_MS (async work is raced against a timer; synchronous
//             work cannot be interrupted in-process, so it is caught by its measured time here and by
//             the worker-thread watchdog of `npm run fuzz`);
//   state     after the case, the previously loaded state (or a built-in prototype) had changed.
// Not here: the inputs (kinds.ts), the command line and the worker threads (main.ts).

import { StudioError } from '../errors';
import { caseSeed, Rng } from './mutate';
import type { FuzzCase, FuzzKind, KindContext } from './kinds';

/** A case slower than this is a hang. */
export const HANG_MS = 5_000;

/** Longest refusal message accepted: what the user reads should fit on a screen. */
export const MAX_MESSAGE_CHARS = 2_000;

export type Status = 'accepted' | 'refused' | 'crash' | 'message' | 'hang' | 'state';

export interface CaseResult {
  readonly kind: string;
  readonly index: number;
  readonly seed: number;
  readonly status: Status;
  readonly ms: number;
  readonly op: string;
  /** The refusal's message, or what went wrong. */
  readonly message?: string;
}

export interface KindReport {
  readonly kind: string;
  readonly input: string;
  readonly cases: number;
  readonly accepted: number;
  readonly refused: number;
  /** Cases that failed a target: crashes, hangs, state changes. */
  readonly failures: readonly CaseResult[];
  readonly slowest: CaseResult | null;
  readonly totalMs: number;
  /** Distinct refusal messages (file-specific text kept), with counts: for reading, not for checks. */
  readonly refusals: ReadonlyMap<string, number>;
  /** Peak growth of the process's memory (RSS) over the kind, in bytes. */
  readonly peakRssGrowth: number;
}

class HangSignal extends Error {}

const STACK = /\n\s+at\s|\bat\s+\S+\s+\([^)]*:\d+:\d+\)/;

/** Whether `message` names one of `names` (a file's base name, its folder, or "saved run"). */
function namesOne(message: string, names: readonly string[]): boolean {
  return names.some((n) => n !== '' && message.includes(n));
}

function describeThrown(error: unknown): string {
  if (error instanceof Error) {
    const where =
      error.stack
        ?.split('\n')
        .find((l) => /^\s+at\s/.test(l))
        ?.trim() ?? '';
    return `${error.name}: ${error.message.slice(0, 500)}${where ? ` (${where})` : ''}`;
  }
  return `non-Error thrown: ${String(error).slice(0, 200)}`;
}

/** The outcome of an error thrown by a case. */
export function classify(error: unknown, c: Pick<FuzzCase, 'names'>): { status: Status; message: string } {
  if (error instanceof HangSignal) return { status: 'hang', message: `no answer within ${HANG_MS} ms` };
  if (!(error instanceof StudioError)) return { status: 'crash', message: describeThrown(error) };
  const message = error.message;
  if (STACK.test(message)) return { status: 'message', message: `stack trace in a refusal: ${message.slice(0, 500)}` };
  if (!namesOne(message, c.names)) return { status: 'message', message: `refusal names no file (${c.names.join(', ')}): ${message.slice(0, 500)}` };
  if (message.length > MAX_MESSAGE_CHARS) return { status: 'message', message: `refusal is ${message.length} characters long: ${message.slice(0, 300)}` };
  return { status: 'refused', message };
}

/** Runs one case with a time budget. */
export async function runCase(ctx: KindContext, kind: string, runSeed: number, index: number, onStart?: (c: FuzzCase) => void): Promise<CaseResult> {
  const seed = caseSeed(runSeed, kind, index);
  let c: FuzzCase;
  try {
    c = ctx.makeCase(new Rng(seed));
  } catch (error) {
    return { kind, index, seed, status: 'crash', ms: 0, op: '(mutator)', message: `the mutator failed: ${describeThrown(error)}` };
  }
  onStart?.(c);
  const start = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const budget = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HangSignal()), HANG_MS);
  });
  let status: Status = 'accepted';
  let message: string | undefined;
  try {
    await Promise.race([ctx.run(c), budget]);
  } catch (error) {
    ({ status, message } = classify(error, c));
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - start;
  if (status !== 'hang' && ms > HANG_MS) {
    message = `took ${Math.round(ms)} ms (over ${HANG_MS} ms)${message ? `; ${message}` : ''}`;
    status = 'hang';
  }
  if (status === 'accepted' || status === 'refused') {
    let changed: string | null;
    try {
      changed = await ctx.checkState();
    } catch (error) {
      changed = `checking the loaded state failed: ${describeThrown(error)}`;
    }
    if (changed) {
      status = 'state';
      message = changed;
    }
  }
  return { kind, index, seed, status, ms, op: c.op, ...(message !== undefined ? { message } : {}) };
}

/** A refusal's message with the parts that vary per case (numbers, quoted names) blurred, for grouping. */
export function messageShape(message: string): string {
  return message
    .replace(/'[^']{0,200}'/g, "'…'")
    .replace(/"[^"]{0,200}"/g, (m) => (m.length <= 30 ? m : '"…"'))
    .replace(/-?\d[\d.e+-]*/g, 'N')
    .slice(0, 220);
}

export interface RunOptions {
  readonly cases: number;
  readonly seed: number;
  /** First case index (to resume after a worker was stopped). */
  readonly from?: number;
  readonly onResult?: (result: CaseResult) => void;
}

/** Runs `cases` cases of one kind in this thread. */
export async function runKind(kind: FuzzKind, options: RunOptions): Promise<KindReport> {
  const ctx = await kind.setup();
  const results: CaseResult[] = [];
  const startRss = process.memoryUsage().rss;
  let peak = 0;
  const start = performance.now();
  try {
    for (let i = options.from ?? 0; i < options.cases; i++) {
      const result = await runCase(ctx, kind.name, options.seed, i);
      results.push(result);
      options.onResult?.(result);
      peak = Math.max(peak, process.memoryUsage().rss - startRss);
    }
  } finally {
    await ctx.dispose();
  }
  return summarize(kind, results, performance.now() - start, peak);
}

export function summarize(kind: Pick<FuzzKind, 'name' | 'input'>, results: readonly CaseResult[], totalMs: number, peakRssGrowth: number): KindReport {
  const refusals = new Map<string, number>();
  let slowest: CaseResult | null = null;
  for (const r of results) {
    if (r.status === 'refused' && r.message) refusals.set(messageShape(r.message), (refusals.get(messageShape(r.message)) ?? 0) + 1);
    if (!slowest || r.ms > slowest.ms) slowest = r;
  }
  return {
    kind: kind.name,
    input: kind.input,
    cases: results.length,
    accepted: results.filter((r) => r.status === 'accepted').length,
    refused: results.filter((r) => r.status === 'refused').length,
    failures: results.filter((r) => r.status !== 'accepted' && r.status !== 'refused'),
    slowest,
    totalMs,
    refusals,
    peakRssGrowth,
  };
}
