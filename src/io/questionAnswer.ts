// Data with checkable answers (GSM8K / MetaMathQA style, public/datasets/math/README.md):
//   rows {question, answer} are trained as prompt `Question: {question}\nAnswer:` and
//   completion ` {answer}` (EOS appended by the tokenizer step; loss on the completion only);
//   the answer to score is the rest of the line after the first `####`.
// One mapping for every host (studio, CLI, study). Rows that already use a field datasets.ts
// reads (text, prompt/completion, instruction/output, messages) are left alone, and so is a row
// whose question is not a string or whose answer is neither a string nor a number. Line numbers
// are kept (one output line per input line), so the dataset parser's errors still point home.

import { parseJsonText } from './json';
import { DatasetError } from '../errors';

const READ_FIELDS = ['text', 'prompt', 'completion', 'instruction', 'output', 'messages'];

export function questionPrompt(question: string): string {
  return `Question: ${question}\nAnswer:`;
}

/** The rest of the line after the first `####`, trimmed; null without one. */
export function finalAnswer(text: string): string | null {
  const at = text.indexOf('####');
  if (at < 0) return null;
  return text
    .slice(at + 4)
    .split('\n')[0]!
    .trim();
}

/** Whether a generation's `####` answer line is complete (a newline follows it). */
export function answerLineComplete(text: string): boolean {
  const at = text.indexOf('####');
  return at >= 0 && text.indexOf('\n', at) >= 0;
}

function mapRow(row: unknown): { row: unknown; mapped: boolean } {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return { row, mapped: false };
  const r = row as Record<string, unknown>;
  if (READ_FIELDS.some((k) => k in r) || typeof r.question !== 'string' || (typeof r.answer !== 'string' && typeof r.answer !== 'number'))
    return { row, mapped: false };
  return { row: { prompt: questionPrompt(r.question), completion: ` ${String(r.answer)}` }, mapped: true };
}

/**
 * {question, answer} rows of a JSONL or JSON-array file as prompt/completion rows; any other
 * file or row as it is. Unparsable lines are kept for the dataset parser to report.
 */
export function questionAnswerRows(text: string, fileName: string): { text: string; mapped: boolean } {
  if (/\.json$/i.test(fileName)) {
    let parsed: unknown;
    try {
      // Depth-limited: rows nested 100 000 deep would overflow JSON.stringify below.
      parsed = parseJsonText(text, (reason) => new DatasetError(reason));
    } catch {
      return { text, mapped: false }; // the dataset parser reports it, naming the file
    }
    if (!Array.isArray(parsed)) return { text, mapped: false };
    const rows = parsed.map(mapRow);
    return rows.some((r) => r.mapped) ? { text: JSON.stringify(rows.map((r) => r.row)), mapped: true } : { text, mapped: false };
  }
  if (!/\.jsonl$/i.test(fileName)) return { text, mapped: false };
  let mapped = false;
  const lines = text.split('\n').map((line) => {
    if (line.trim() === '') return line;
    let row: unknown;
    try {
      row = JSON.parse(line) as unknown;
    } catch {
      return line;
    }
    const out = mapRow(row);
    if (!out.mapped) return line;
    mapped = true;
    return JSON.stringify(out.row);
  });
  return mapped ? { text: lines.join('\n'), mapped } : { text, mapped: false };
}
