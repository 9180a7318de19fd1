// The per-method numbers the results plot offers, from the streamed run (losses, steps, init) and
// the accuracy progress. Pure; NaN where a method has no such number yet. Over several seeds,
// spreadMetric gives the same numbers (same units) as mean, sd and n.

import type { AccuracyProgress } from '../state/diagnosticsStore';
import type { MethodReady } from '../state/runStore';
import type { StepPoint } from '../worker/protocol';
import type { SeedAggregate, Spread } from '../io/seedStats';

export type MetricKey = 'finalVal' | 'bestVal' | 'trainable' | 'memory' | 'time' | 'tokensPerS' | 'accuracy';

export const METRICS: readonly { key: MetricKey; label: string; unit: string }[] = [
  { key: 'finalVal', label: 'Final val loss', unit: 'nats/token' },
  { key: 'bestVal', label: 'Best val loss', unit: 'nats/token' },
  { key: 'trainable', label: 'Trainable params', unit: 'count' },
  { key: 'memory', label: 'Memory', unit: 'MiB' },
  { key: 'time', label: 'Train time', unit: 's' },
  { key: 'tokensPerS', label: 'Tokens/s', unit: 'tokens/s' },
  { key: 'accuracy', label: 'Accuracy', unit: '% exact match' },
];

export function methodMetrics(
  points: readonly StepPoint[],
  evals: readonly { step: number; loss: number }[],
  ready: MethodReady | undefined,
  accuracy: AccuracyProgress | undefined,
): Record<MetricKey, number> {
  const ms = points.reduce((n, p) => n + p.ms, 0);
  const tokens = points.reduce((n, p) => n + p.tokens, 0);
  return {
    finalVal: evals.at(-1)?.loss ?? Number.NaN,
    bestVal: evals.length > 0 ? Math.min(...evals.map((e) => e.loss)) : Number.NaN,
    trainable: ready?.trainableParams ?? Number.NaN,
    memory: ready ? ready.bytes / (1024 * 1024) : Number.NaN,
    time: ms / 1000,
    tokensPerS: ms > 0 ? (tokens * 1000) / ms : Number.NaN,
    accuracy: accuracy && accuracy.total > 0 && accuracy.done === accuracy.total ? (100 * accuracy.correct) / accuracy.total : Number.NaN,
  };
}

/** A metric of one method over its seeds, in the units of METRICS. */
export function spreadMetric(a: SeedAggregate, key: MetricKey): Spread {
  const scaled = (s: Spread, k: number): Spread => ({ mean: s.mean * k, sd: s.sd * k, n: s.n });
  const { stats } = a;
  switch (key) {
    case 'finalVal':
    case 'bestVal':
    case 'trainable':
    case 'tokensPerS':
      return stats[key];
    case 'memory':
      return scaled(stats.bytes, 1 / (1024 * 1024));
    case 'time':
      return scaled(stats.trainMs, 1 / 1000);
    case 'accuracy':
      return scaled(stats.accuracy, 100);
  }
}
