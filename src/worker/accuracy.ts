// Accuracy on data with checkable answers (public/datasets/math/README.md "Scoring"): greedy
// generation from each validation question's prompt, then exact match of the rest of the line
// after the first "####" in the generation against the same in the reference completion. A
// generation without "####" is wrong. Generation stops at EOS, at the end of the "####" line, or
// at the reference's length plus a margin.
// Not here: training, or data without "####" answers (no questions: the caller says so).

import type { TokenizedExample } from '../io/datasets';
import type { TextTokenizer } from '../io/tokenizer';
import type { CausalLM, ForwardOptions } from '../models/causalLM';
import { generate } from '../models/generate';
import type { Runtime } from '../tensor/values';

export interface AccuracyQuestion {
  readonly promptIds: readonly number[];
  readonly answer: string;
  /** Tokens to allow: the reference completion's length plus a margin. */
  readonly maxNewTokens: number;
}

/** The rest of the line after the first "####", trimmed; null without one. */
export function finalAnswer(text: string): string | null {
  const at = text.indexOf('####');
  if (at < 0) return null;
  return text.slice(at + 4).split('\n')[0]!.trim();
}

/** The first `limit` validation rows whose completion has a "####" answer and whose prompt fits. */
export function accuracyQuestions(examples: readonly TokenizedExample[], limit: number): AccuracyQuestion[] {
  const out: AccuracyQuestion[] = [];
  for (const e of examples) {
    if (out.length >= limit) break;
    const answer = finalAnswer(e.completionText);
    const first = e.lossMask.indexOf(true);
    if (answer === null || answer === '' || first <= 0) continue;
    const completionTokens = e.fullLength - first;
    out.push({ promptIds: e.ids.slice(0, first), answer, maxNewTokens: Math.min(256, completionTokens + 16) });
  }
  return out;
}

class Done extends Error {}

/** Greedy answer to one question; true when its final number matches. */
export async function answerCorrectly(rt: Runtime, model: CausalLM, linears: ForwardOptions['linears'], tokenizer: TextTokenizer, q: AccuracyQuestion): Promise<boolean> {
  const out: number[] = [];
  const text = () => tokenizer.decode(out, { skipSpecialTokens: true });
  try {
    await generate(rt, model, q.promptIds, {
      maxNewTokens: Math.min(q.maxNewTokens, model.config.maxPositions - q.promptIds.length),
      linears,
      temperature: 0,
      onToken: (id) => {
        out.push(id);
        const t = text();
        const at = t.indexOf('####');
        // The answer line is complete once a newline follows it.
        if (at >= 0 && t.indexOf('\n', at) >= 0) throw new Done();
      },
    });
  } catch (error) {
    if (!(error instanceof Done)) throw error;
  }
  return finalAnswer(text()) === q.answer;
}
