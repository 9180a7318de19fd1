import { describe, expect, it } from 'vitest';
import { answerLineComplete, finalAnswer, questionAnswerRows } from './questionAnswer';

describe('question/answer data', () => {
  it('maps {question, answer} rows to prompt/completion and leaves other rows and lines alone', () => {
    const text = `${JSON.stringify({ question: 'Q?', answer: 'A\n#### 3' })}\n\n${JSON.stringify({ prompt: 'p', completion: 'c' })}\nnot json\n${JSON.stringify({ question: 'n', answer: 4 })}`;
    const out = questionAnswerRows(text, 'x.jsonl');
    expect(out.mapped).toBe(true);
    const lines = out.text.split('\n');
    expect(JSON.parse(lines[0]!)).toEqual({ prompt: 'Question: Q?\nAnswer:', completion: ' A\n#### 3' });
    expect(lines[1]).toBe('');
    expect(JSON.parse(lines[2]!)).toEqual({ prompt: 'p', completion: 'c' });
    expect(lines[3]).toBe('not json');
    expect(JSON.parse(lines[4]!)).toEqual({ prompt: 'Question: n\nAnswer:', completion: ' 4' });
  });

  it('maps JSON arrays; leaves CSV, rows with a field the parser reads, and non-string questions', () => {
    const array = questionAnswerRows(JSON.stringify([{ question: 'a', answer: 'b' }, { text: 't' }]), 'd.json');
    expect(JSON.parse(array.text)).toEqual([{ prompt: 'Question: a\nAnswer:', completion: ' b' }, { text: 't' }]);
    expect(questionAnswerRows('question,answer\nq,a\n', 'x.csv')).toEqual({ text: 'question,answer\nq,a\n', mapped: false });
    const kept = `${JSON.stringify({ question: 'q', answer: 'a', prompt: 'p', completion: 'c' })}\n${JSON.stringify({ question: 3, answer: 'a' })}`;
    expect(questionAnswerRows(kept, 'x.jsonl')).toEqual({ text: kept, mapped: false });
  });

  it('reads the answer after ####', () => {
    expect(finalAnswer('3 + 4 = 7\n#### 7\nmore')).toBe('7');
    expect(finalAnswer('#### 12')).toBe('12');
    expect(finalAnswer('no answer')).toBeNull();
    expect(answerLineComplete('x #### 7')).toBe(false);
    expect(answerLineComplete('x #### 7\n')).toBe(true);
  });
});
