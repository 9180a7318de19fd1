// Token F1 of a generated answer against its reference, as SQuAD's evaluation script scores it:
// both sides normalised (lower case, punctuation removed, the articles a/an/the dropped, runs of
// whitespace collapsed) and split on whitespace; F1 = 2PR / (P + R) over the tokens they share,
// counted with multiplicity. Two empty answers score 1; an empty one against a non-empty one 0.

/** SQuAD's normalize_answer: lower case, no punctuation, no articles, single spaces. */
export function normalizeAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, '')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter((t) => t !== '')
    .join(' ');
}

/** F1 over the normalised whitespace tokens of `answer` (null: no answer) and `reference`, 0–1. */
export function tokenF1(answer: string | null, reference: string): number {
  const predicted = normalizeAnswer(answer ?? '')
    .split(' ')
    .filter((t) => t !== '');
  const expected = normalizeAnswer(reference)
    .split(' ')
    .filter((t) => t !== '');
  if (predicted.length === 0 || expected.length === 0) return predicted.length === expected.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of expected) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of predicted) {
    const left = counts.get(t) ?? 0;
    if (left > 0) {
      common++;
      counts.set(t, left - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / predicted.length;
  const recall = common / expected.length;
  return (2 * precision * recall) / (precision + recall);
}
