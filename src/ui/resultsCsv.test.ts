import { describe, expect, it } from 'vitest';
import { resultsCsv, resultsCsvName, type CsvRow } from './resultsCsv';

const row = (over: Partial<CsvRow>): CsvRow => ({
  id: 'm1',
  label: 'LoRA',
  steps: 2,
  finalLoss: 3.25,
  finalVal: 3.5,
  bestVal: 3.4,
  accuracy: Number.NaN,
  trainable: 1024,
  bytes: 12288,
  initMs: 10,
  trainMs: 2000,
  tokensPerS: 64.5,
  processedPerS: 256,
  forgettingLoss: 2.75,
  forgetting: 0.0312345678912,
  ...over,
});

describe('resultsCsv', () => {
  it('writes a header and one row per method, with empty cells for unmeasured numbers', () => {
    const csv = resultsCsv([row({}), row({ id: 'x', label: 'Odd, "quoted"', forgettingLoss: Number.NaN, forgetting: Number.NaN, halted: 'loss NaN' })]);
    const lines = csv.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const header = lines[0]!.split(',');
    expect(header).toContain('forgetting');
    const first = Object.fromEntries(lines[1]!.split(',').map((v, i) => [header[i]!, v]));
    expect(first).toMatchObject({
      method: 'LoRA',
      trainable_params: '1024',
      adapter_bytes_f32: '4096',
      memory_bytes: '12288',
      trained_tokens_per_s: '64.5',
      processed_tokens_per_s: '256',
      accuracy: '',
      forgetting: '0.031234568',
    });
    expect(lines[2]!.startsWith('"Odd, ""quoted""",x,')).toBe(true);
    expect(lines[2]!.endsWith(',,,loss NaN')).toBe(true);
  });

  it('names the file after the run', () => {
    expect(resultsCsvName('LoRA, PiSSA · 60 steps')).toBe('LoRA-PiSSA-60-steps-results.csv');
    expect(resultsCsvName(undefined)).toBe('comparison-results.csv');
    expect(resultsCsvName('···')).toBe('comparison-results.csv');
  });
});
