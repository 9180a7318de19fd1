// The typed errors (errors.ts): one formatter (errorMessage), one kind per error (errorKind), the
// CLI's exit code from the kind alone, the kind carried across the worker boundary, and the rule
// that code outside tests and errors.ts throws typed errors only: a source scan, like the one of
// adapters/registry.test.ts, finds every `new Error(…)` / `new RangeError(…)` / `new TypeError(…)`
// (and the same without `new`) in src/ outside *.test.ts(x), src/test/ and errors.ts.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  DatasetError,
  DeviceLostError,
  ERROR_KINDS,
  errorKind,
  errorMessage,
  GpuError,
  InputError,
  InternalError,
  ModelFormatError,
  OutOfMemoryError,
  StudioError,
  UnsupportedError,
  UnsupportedModelError,
  WebGpuUnavailableError,
  withContext,
  type ErrorKind,
} from './errors';
import { UsageError } from './cli/args';
import { bufferIo, EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_GPU, EXIT_UNEXPECTED, EXIT_USAGE, exitCodeFor, initError } from './cli/commands/common';
import { runCli } from './cli/commands/index';
import { serializeError } from './worker/protocol';
import { EngineError } from './worker/client';

/** One example of every error class (and of untyped throws), with its kind and exit code. */
const CASES: readonly [string, unknown, ErrorKind, number][] = [
  ['UsageError', new UsageError("--steps must be an integer, got 'x'", 'train'), 'usage', EXIT_USAGE],
  ['StudioError', new StudioError('the prompt is empty'), 'input', EXIT_BAD_INPUT],
  ['InputError', new InputError('LoRA-GA needs training batches for its gradient estimate.'), 'input', EXIT_BAD_INPUT],
  ['ModelFormatError', new ModelFormatError('is not valid JSON', 'config.json'), 'input', EXIT_BAD_INPUT],
  ['DatasetError', new DatasetError('rows.jsonl: no usable rows'), 'input', EXIT_BAD_INPUT],
  ['UnsupportedError', new UnsupportedError("PEFT's SHiRA adapts torch.nn.Linear layers only"), 'unsupported', EXIT_BAD_INPUT],
  ['UnsupportedModelError', new UnsupportedModelError('model_type "mamba" is not supported'), 'unsupported', EXIT_BAD_INPUT],
  ['GpuError', new GpuError('inner dimensions differ (3 vs 4)', 'matmul', 'a [2,3], b [4,5]'), 'gpu', EXIT_GPU],
  ['WebGpuUnavailableError', new WebGpuUnavailableError('this browser has no WebGPU'), 'gpu', EXIT_GPU],
  ['DeviceLostError', new DeviceLostError('the GPU device was lost'), 'gpu', EXIT_GPU],
  ['OutOfMemoryError', new OutOfMemoryError(3 * 2 ** 30, 2 ** 30, 'the LM head'), 'memory', EXIT_GPU],
  ['CancelledError', new CancelledError(), 'cancelled', EXIT_CANCELLED],
  ['AbortError', new DOMException('The operation was aborted.', 'AbortError'), 'cancelled', EXIT_CANCELLED],
  ['InternalError', new InternalError('linear: input [2,3] does not end in 4'), 'internal', EXIT_UNEXPECTED],
  ['TypeError', new TypeError("Cannot read properties of undefined (reading 'shape')"), 'internal', EXIT_UNEXPECTED],
  ['a string', 'thrown string', 'internal', EXIT_UNEXPECTED],
];

describe('typed errors', () => {
  it.each(CASES)('%s: kind and exit code from the type alone', (_, error, kind, code) => {
    expect(errorKind(error)).toBe(kind);
    expect(exitCodeFor(error)).toBe(code);
  });

  it('every kind has an exit code, and the codes are the documented ones', () => {
    expect(new Set(CASES.map(([, , kind]) => kind))).toEqual(new Set(ERROR_KINDS));
    for (const kind of ERROR_KINDS) expect(exitCodeFor({ kind, message: kind }), kind).toBeGreaterThan(0);
    expect([EXIT_UNEXPECTED, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_GPU, EXIT_CANCELLED]).toEqual([1, 2, 3, 4, 130]);
  });

  it('a bug is not a StudioError, so nothing relays it as an answer to the user', () => {
    expect(new InternalError('x')).not.toBeInstanceOf(StudioError);
    expect(new UsageError('x')).toBeInstanceOf(StudioError);
    expect(new ModelFormatError('x')).toBeInstanceOf(InputError);
    expect(new UnsupportedModelError('x')).toBeInstanceOf(UnsupportedError);
    for (const [name, error] of CASES) if (error instanceof Error && name !== 'AbortError' && name !== 'TypeError') expect(error.name).toBe(name);
  });

  it('errorMessage: the message a user reads, for anything thrown', () => {
    expect(errorMessage(new ModelFormatError('is not valid JSON', 'config.json'))).toBe('config.json: is not valid JSON');
    expect(errorMessage(new GpuError('inner dimensions differ (3 vs 4)', 'matmul', 'a [2,3]'))).toBe(
      'inner dimensions differ (3 vs 4) (kernel matmul, a [2,3])',
    );
    expect(errorMessage(new OutOfMemoryError(3 * 2 ** 30, 2 ** 30, 'the LM head'))).toBe(
      'Out of GPU memory allocating 3.00 GiB for the LM head (1.00 GiB already in use). Try a smaller model, batch or sequence length.',
    );
    expect(errorMessage(new CancelledError())).toBe('cancelled');
    expect(errorMessage(new InternalError('the KV cache has 2 layers, not 3'))).toBe('the KV cache has 2 layers, not 3');
    expect(errorMessage(new TypeError('Failed to fetch'))).toBe('Failed to fetch');
    expect(errorMessage(new RangeError(''))).toBe('RangeError');
    // WebGPU's GPUError and similar objects are not Errors but carry a message.
    expect(errorMessage({ message: 'Buffer is destroyed' })).toBe('Buffer is destroyed');
    expect(errorMessage('thrown string')).toBe('thrown string');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(undefined)).toBe('undefined');
  });

  it('the kind crosses the worker boundary and comes back on the page', () => {
    for (const [name, error, kind, code] of CASES) {
      const serialized = serializeError(error);
      expect(serialized, name).toEqual({ name: (error as Error).name ?? 'Error', kind, message: errorMessage(error) });
      const page = new EngineError(structuredClone(serialized));
      expect(page.name).toBe(serialized.name);
      expect(page.message).toBe(serialized.message);
      expect(errorKind(page), name).toBe(kind);
      expect(exitCodeFor(page), name).toBe(code);
    }
  });

  it.each(CASES.filter(([name]) => name !== 'UsageError'))('the CLI prints %s by its kind and exits with its code', async (_, error, kind, code) => {
    // logits opens the folder (headers only) and then asks for the GPU, which fails with `error`.
    const io = bufferIo();
    expect(await runCli(['logits', 'test/fixtures/tiny-llama', '--ids', '1'], { io, gpu: () => Promise.reject(error) })).toBe(code);
    if (kind === 'internal') {
      expect(io.stderr).toMatch(/^internal error \(a bug; please report it\): /);
      expect(io.stderr).toContain(errorMessage(error));
    } else {
      expect(io.stderr).toBe(`error: ${errorMessage(error)}\n`);
    }
  });

  it('withContext adds where it happened and keeps the kind', () => {
    const oom = new OutOfMemoryError(2 ** 20, 0, 'E');
    expect(withContext('quantization error of q', oom)).toBe(oom);
    expect(oom.message).toMatch(/^quantization error of q: Out of GPU memory allocating 1.00 MiB for E/);
    expect(errorKind(oom)).toBe('memory');
    const cause = new TypeError('x is undefined');
    const bug = withContext('quantization error of q', cause);
    expect(bug).toBeInstanceOf(InternalError);
    expect(bug.message).toBe('quantization error of q: x is undefined');
    expect(bug.cause).toBe(cause);
    const stopped = withContext('training', new DOMException('stopped', 'AbortError'));
    expect([stopped.name, stopped.message, errorKind(stopped)]).toEqual(['CancelledError', 'training: stopped', 'cancelled']);
  });

  it("initError names the method in an input error and keeps every error's type", () => {
    const input = new InputError('LoRA-GA needs training batches for its gradient estimate.');
    expect(initError('m1', input)).toBe(input);
    expect(input.message).toBe('m1 could not be initialised: LoRA-GA needs training batches for its gradient estimate.');
    expect(initError('m1', input)).toBe(input);
    expect(input.message.match(/could not be initialised/g)).toHaveLength(1);
    const oom = new OutOfMemoryError(1 << 20, 0, 'A');
    const bug = new InternalError('A [2,3] and B [4,2] do not fit a [4, 4] layer');
    const usage = new UsageError('--rank 20 is more than the smaller side');
    for (const error of [oom, bug, usage]) {
      const message = error.message;
      expect(initError('m1', error)).toBe(error);
      expect(error.message).toBe(message);
    }
  });
});

// --- the source scan ------------------------------------------------------------------------------

const SRC = fileURLToPath(new URL('./', import.meta.url));
const EXEMPT = [join(SRC, 'errors.ts'), join(SRC, 'test') + sep];
const PLAIN = new Set(['Error', 'RangeError', 'TypeError']);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** `file:line: text` for every `new Error(…)`, `RangeError(…)`, … in `text`, with or without `new`. */
function plainErrors(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const hits: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isNewExpression(node) || ts.isCallExpression(node)) && ts.isIdentifier(node.expression) && PLAIN.has(node.expression.text)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      hits.push(`${file}:${line + 1}: ${node.getText(source).slice(0, 100)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return hits;
}

describe('no plain errors', () => {
  it('finds new Error, RangeError and TypeError, with or without new, and nothing else', () => {
    const text = [
      "throw new Error('a');",
      'reject(new RangeError(`b`));',
      "throw TypeError('c');",
      "throw new InputError('d');",
      'class E extends Error {}',
      "const s = 'new Error(x)'; // new Error(y)",
      "if (e instanceof RangeError) throw new GpuError('e');",
    ].join('\n');
    expect(plainErrors('x.ts', text)).toEqual(["x.ts:1: new Error('a')", 'x.ts:2: new RangeError(`b`)', "x.ts:3: TypeError('c')"]);
  });

  it('code under src/ throws typed errors (errors.ts), never a plain Error, RangeError or TypeError', () => {
    const hits = sourceFiles(SRC)
      .filter((file) => !EXEMPT.some((e) => file === e || file.startsWith(e)))
      .flatMap((file) => plainErrors(relative(join(SRC, '..'), file), readFileSync(file, 'utf8')));
    expect(
      hits,
      'throw a typed error from src/errors.ts instead: InputError / UnsupportedError (and their subclasses) for what the user gave, ' +
        `InternalError for a state that should never happen:\n${hits.join('\n')}`,
    ).toEqual([]);
  });
});
