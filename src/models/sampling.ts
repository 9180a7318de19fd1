// Picking the next token from one row of logits [V]: greedy (temperature 0) or sampling from
// softmax(logits / temperature) restricted to the top-k tokens and then to the smallest set whose
// probability reaches top-p (nucleus). Ties in greedy go to the lowest id. Runs on the CPU on
// the one row read back per generated token.

export interface SamplingOptions {
  /** 0 = greedy. */
  readonly temperature?: number;
  /** Keep the k most likely tokens (0 or undefined: all). */
  readonly topK?: number;
  /** Keep the smallest most-likely set with total probability ≥ p (1 or undefined: all). */
  readonly topP?: number;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** A seeded uniform [0, 1) generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The candidate tokens and their renormalised probabilities after temperature, top-k, top-p. */
export function samplingDistribution(logits: ArrayLike<number>, options: SamplingOptions): { ids: number[]; probs: number[] } {
  const temperature = options.temperature ?? 0;
  if (!(temperature > 0)) return { ids: [argmax(logits)], probs: [1] };
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const k = options.topK && options.topK > 0 ? Math.min(options.topK, order.length) : order.length;
  const kept = order.slice(0, k);
  const max = logits[kept[0]!]!;
  const weights = kept.map((i) => Math.exp((logits[i]! - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let probs = weights.map((w) => w / total);
  const topP = options.topP ?? 1;
  let count = probs.length;
  if (topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < probs.length; i++) {
      cumulative += probs[i]!;
      if (cumulative >= topP) {
        count = i + 1;
        break;
      }
    }
  }
  const ids = kept.slice(0, count);
  probs = probs.slice(0, count);
  const keptTotal = probs.reduce((a, b) => a + b, 0);
  return { ids, probs: probs.map((p) => p / keptTotal) };
}

export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, random: () => number): number {
  const { ids, probs } = samplingDistribution(logits, options);
  if (ids.length === 1) return ids[0]!;
  let u = random();
  for (let i = 0; i < ids.length; i++) {
    u -= probs[i]!;
    if (u < 0) return ids[i]!;
  }
  return ids[ids.length - 1]!;
}

/**
 * A stop string ends generation once the decoded continuation contains it (checked on the text,
 * not on ids: a stop string can span tokens, and one token can hold it and more). Empty: none.
 */
export function stopOnText(decode: (ids: readonly number[]) => string, stop: string): ((generated: readonly number[]) => boolean) | undefined {
  if (stop === '') return undefined;
  return (generated) => decode(generated).includes(stop);
}

/** The continuation up to (not including) the first stop string, and whether one was found. */
export function cutAtStop(text: string, stop: string): { readonly text: string; readonly stopped: boolean } {
  const at = stop === '' ? -1 : text.indexOf(stop);
  return at < 0 ? { text, stopped: false } : { text: text.slice(0, at), stopped: true };
}
