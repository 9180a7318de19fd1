// Accuracy on data with checkable answers (public/datasets/math/README.md "Scoring"): greedy
// generation from each validation question's prompt (train/runData.ts accuracyQuestions), then
// exact match of the rest of the line after the first "####" in the generation against the
// reference's. A generation without "####" is wrong. A row stops at EOS, at the end of its
// "####" line, or at the reference's length plus a margin. Questions are generated in groups
// (models/generate.ts generateMany), so progress arrives group by group.
// Not here: training, or data without "####" answers (no questions: the caller says so).

import { answerLineComplete, finalAnswer } from '../io/questionAnswer';
import type { TextTokenizer } from '../io/tokenizer';
import type { CausalLM, ForwardOptions } from '../models/causalLM';
import { generateMany } from '../models/generate';
import type { AccuracyQuestion } from '../train/runData';
import type { Runtime } from '../tensor/values';

const GROUP = 8;

/** Correct answers among `questions`; `onProgress(correct, done)` after each group; stops early when `shouldStop`. */
export async function countCorrect(
  rt: Runtime,
  model: CausalLM,
  linears: ForwardOptions['linears'],
  tokenizer: TextTokenizer,
  questions: readonly AccuracyQuestion[],
  onProgress: (correct: number, done: number) => void,
  shouldStop: () => boolean,
): Promise<number> {
  const text = (ids: readonly number[]) => tokenizer.decode([...ids], { skipSpecialTokens: true });
  let correct = 0;
  let done = 0;
  for (let i = 0; i < questions.length && !shouldStop(); i += GROUP) {
    const group = questions.slice(i, i + GROUP);
    const limit = Math.max(...group.map((q) => q.maxNewTokens));
    const outputs = await generateMany(
      rt,
      model,
      group.map((q) => q.promptIds),
      { maxNewTokens: limit, linears, temperature: 0, stop: (ids) => answerLineComplete(text(ids)) },
    );
    group.forEach((q, k) => {
      // A row's own limit: what it generated past it is not its answer.
      if (finalAnswer(text(outputs[k]!.slice(0, q.maxNewTokens))) === q.answer) correct++;
    });
    done += group.length;
    onProgress(correct, done);
  }
  return correct;
}
