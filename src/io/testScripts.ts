// Test helpers for the training scripts (pythonScript.ts): one run configuration, and a Python
// syntax check where python3 is installed.

import { execFileSync } from 'node:child_process';
import type { ScriptConfig } from './pythonScript';

/** A LoRA-like run on SmolLM2; the method id is an opaque name here (the real ids live in the registry). */
export const TEST_SCRIPT_CONFIG: ScriptConfig = {
  methodId: 'low-rank-x',
  methodLabel: 'LoRA',
  settings: { rank: 8, alpha: 16, rslora: false, init: 'kaiming' },
  modelName: 'HuggingFaceTB/SmolLM2-135M',
  family: 'llama',
  targets: ['all'],
  lr: 5e-4,
  schedule: 'cosine',
  warmup: 0,
  steps: 60,
  batch: 8,
  seqLen: 96,
  seed: 0,
  clipNorm: 1,
  evalEvery: 10,
  dataset: 'math (built-in)',
};

export function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'pass']);
    return true;
  } catch {
    return false;
  }
}

/** Throws (python3's SyntaxError) unless `text` parses as Python. */
export function parsePython(text: string): void {
  execFileSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: text });
}
