// A seeded, structure-aware mutator for the files a user can give Adapter Studio. Every mutation
// is a pure function of (seed, input): the same seed gives the same bytes on every machine, so any
// failing case can be replayed alone (`npm run fuzz -- --kind K --seed S --case N`).
// Layers, from the bytes up: bytes (truncate, flip, insert, delete, duplicate, invalid UTF-8,
// zero-size, junk); JSON values (delete and duplicate keys, swap types, huge numbers, NaN and
// Infinity, grow and shrink lists and strings, deep nesting, lone surrogates, prototype keys,
// 2 GB claimed lengths), serialized by our own writer so it can emit what JSON.stringify cannot
// (duplicate keys, NaN, 100 000 levels of nesting); lines of text (JSONL, CSV/TSV, plain text);
// Jinja templates (hostile snippets: range(10**9), self-calling macros, deep parentheses, string
// doubling); safetensors (header entries, the u64 header length, the data buffer).
// Not here: what a kind's files are or which entry points read them (kinds.ts).

import { concatBytes } from '../io/byteSource';

/** splitmix32: small, fast, and the same everywhere. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  next(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 2 ** 32;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.float() * n);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A length biased towards small values but reaching `max`. */
  size(max: number): number {
    return Math.min(max, Math.floor(Math.exp(this.float() * Math.log(max + 1))));
  }
}

/** A seed for case `index` of `kind` under the run's `seed` (FNV-1a of the name, then mixed). */
export function caseSeed(seed: number, kind: string, index: number): number {
  let h = 0x811c9dc5;
  for (const c of kind) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  const r = new Rng((h ^ Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  r.next();
  return r.next();
}

// ---------------------------------------------------------------------------------------------
// Bytes

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Byte sequences that are not valid UTF-8: overlong, surrogate, truncated, stray continuation, 0xFF. */
const INVALID_UTF8: readonly number[][] = [
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0x80],
  [0xff],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
];

export interface Mutated<T> {
  readonly value: T;
  /** What was done, for the report (e.g. "json:swap-type config.num_hidden_layers"). */
  readonly op: string;
}

/** One byte-level mutation of a copy of `bytes`. */
export function mutateBytes(rng: Rng, bytes: Uint8Array): Mutated<Uint8Array> {
  const n = bytes.byteLength;
  const at = rng.int(n + 1);
  switch (rng.int(9)) {
    case 0:
      return { value: bytes.slice(0, rng.int(n)), op: 'bytes:truncate' };
    case 1: {
      const out = bytes.slice();
      const flips = 1 + rng.int(8);
      for (let i = 0; i < flips && n > 0; i++) out[rng.int(n)]! ^= 1 << rng.int(8);
      return { value: out, op: `bytes:flip-${flips}` };
    }
    case 2: {
      const out = bytes.slice();
      for (let i = 0; i < 1 + rng.int(4) && n > 0; i++) out[rng.int(n)] = rng.pick([0x00, 0xff, 0x7f, 0x80, 0x22, 0x7b, 0x5b, 0x0a]);
      return { value: out, op: 'bytes:set-interesting' };
    }
    case 3: {
      const junk = new Uint8Array(rng.size(4096));
      for (let i = 0; i < junk.length; i++) junk[i] = rng.int(256);
      return { value: concatBytes([bytes.subarray(0, at), junk, bytes.subarray(at)]), op: 'bytes:insert-random' };
    }
    case 4: {
      const end = Math.min(n, at + rng.size(n));
      return { value: concatBytes([bytes.subarray(0, at), bytes.subarray(end)]), op: 'bytes:delete-range' };
    }
    case 5: {
      const end = Math.min(n, at + rng.size(Math.max(1, n - at)));
      const times = 1 + rng.size(64);
      const parts = [bytes.subarray(0, end)];
      for (let i = 0; i < times; i++) parts.push(bytes.subarray(at, end));
      parts.push(bytes.subarray(end));
      return { value: concatBytes(parts), op: `bytes:duplicate-range-x${times}` };
    }
    case 6:
      return { value: concatBytes([bytes.subarray(0, at), Uint8Array.from(rng.pick(INVALID_UTF8)), bytes.subarray(at)]), op: 'bytes:invalid-utf8' };
    case 7:
      return { value: new Uint8Array(0), op: 'bytes:zero-size' };
    default:
      return { value: concatBytes([bytes, encoder.encode(rng.pick(['\n', '\u0000', 'garbage', '}', ']', '{"a":1}', '\uFEFF']))]), op: 'bytes:append-junk' };
  }
}

// ---------------------------------------------------------------------------------------------
// JSON values, with a writer that can say what JSON.stringify cannot

/** A value our writer emits as raw JSON text (NaN, 1e400, a duplicate key, 100 000 brackets). */
export class Raw {
  constructor(readonly text: string) {}
}

/** An object whose entries are written in order, duplicates included. */
export class Entries {
  constructor(readonly entries: readonly (readonly [string, unknown])[]) {}
}

/** JSON text of a value that may hold Raw and Entries. Iterative over depth, so any nesting is fine. */
export function writeJson(value: unknown): string {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v instanceof Raw) out.push(v.text);
    else if (typeof v === 'string' && v.startsWith('\u0000lit:')) out.push(v.slice(5));
    else if (v instanceof Entries || (typeof v === 'object' && v !== null && !Array.isArray(v))) {
      const entries = v instanceof Entries ? v.entries : Object.entries(v as Record<string, unknown>);
      const parts: unknown[] = ['\u0000lit:{'];
      entries.forEach(([k, x], i) => {
        parts.push(`\u0000lit:${i > 0 ? ',' : ''}${JSON.stringify(k)}:`, x);
      });
      parts.push('\u0000lit:}');
      for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]);
    } else if (Array.isArray(v)) {
      const parts: unknown[] = ['\u0000lit:['];
      v.forEach((x, i) => {
        if (i > 0) parts.push('\u0000lit:,');
        parts.push(x);
      });
      parts.push('\u0000lit:]');
      for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]);
    } else if (typeof v === 'number' && !Number.isFinite(v)) out.push(Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity');
    else out.push(JSON.stringify(v) ?? 'null');
  }
  return out.join('');
}

/** Numbers that break parsers: huge, negative, fractional, beyond 2^53, 2 GB and 4 GB claimed lengths. */
export const INTERESTING_NUMBERS: readonly (number | Raw)[] = [
  0,
  -1,
  1,
  2,
  3,
  7,
  255,
  256,
  65535,
  65536,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  1e9,
  1e12,
  1e308,
  -1e308,
  0.5,
  1.5,
  -0,
  5e-324,
  new Raw('1e400'),
  new Raw('-1e400'),
  new Raw('NaN'),
  new Raw('Infinity'),
  new Raw('-Infinity'),
  new Raw('123456789012345678901234567890'),
];

const INTERESTING_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\udfff',
  '\ud83d',
  'é',
  '\u202e',
  '🦙',
  '__proto__',
  'constructor',
  'NaN',
  '-1',
  '1e999',
  '\n',
  '"',
  '\\',
  '{{',
  '{%',
  '<|endoftext|>',
  'x'.repeat(300),
];

/** Keys that name Object.prototype's members. */
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', ''];

type Path = (string | number)[];

function deepCopy(value: unknown): unknown {
  return structuredClone(value);
}

/** Paths to every node (up to `max`, breadth-first), the root included. */
function nodePaths(root: unknown, max = 4000): Path[] {
  const paths: Path[] = [[]];
  const queue: [unknown, Path][] = [[root, []]];
  while (queue.length > 0 && paths.length < max) {
    const [v, path] = queue.shift()!;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        paths.push([...path, i]);
        queue.push([x, [...path, i]]);
      });
    } else if (typeof v === 'object' && v !== null && !(v instanceof Raw) && !(v instanceof Entries)) {
      for (const [k, x] of Object.entries(v)) {
        paths.push([...path, k]);
        queue.push([x, [...path, k]]);
      }
    }
  }
  return paths;
}

function getAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const p of path) v = (v as Record<string | number, unknown>)[p];
  return v;
}

/** Sets the node at `path` (the root when empty); returns the new root. */
function setAt(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  if (typeof key === 'string') Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
  else parent[key] = value;
  return root;
}

function deleteAt(root: unknown, path: Path): unknown {
  if (path.length === 0) return root;
  const parent = getAt(root, path.slice(0, -1));
  const key = path[path.length - 1]!;
  if (Array.isArray(parent)) parent.splice(key as number, 1);
  else delete (parent as Record<string, unknown>)[key as string];
  return root;
}

function nest(value: unknown, depth: number, asObject: boolean): Raw {
  const inner = writeJson(value);
  return asObject ? new Raw('{"a":'.repeat(depth) + inner + '}'.repeat(depth)) : new Raw('['.repeat(depth) + inner + ']'.repeat(depth));
}

function swapType(rng: Rng, v: unknown): unknown {
  const options: unknown[] = [null, true, false, 0, -1, '', 'x', [], {}, [v], { value: v }];
  if (typeof v === 'number') options.push(String(v));
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) options.push(Number(v));
  return rng.pick(options);
}

function label(path: Path): string {
  const text = path.length === 0 ? '(root)' : path.join('.');
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export interface JsonMutationOptions {
  /** Keys worth adding to objects (a kind's optional fields), with values to try. */
  readonly extraKeys?: readonly (readonly [string, unknown])[];
  /** Largest element count a grow may reach (keeps cases fast). */
  readonly maxGrow?: number;
}

/**
 * One or a few structure-aware mutations of a JSON value, as JSON text. The input is not changed.
 */
export function mutateJson(rng: Rng, input: unknown, options: JsonMutationOptions = {}): Mutated<string> {
  let root = deepCopy(input);
  const ops: string[] = [];
  const count = 1 + (rng.chance(0.3) ? rng.int(3) : 0);
  for (let m = 0; m < count; m++) {
    const paths = nodePaths(root);
    const path = rng.pick(paths);
    const node = getAt(root, path);
    const maxGrow = options.maxGrow ?? 20_000;
    switch (rng.int(12)) {
      case 0:
        root = path.length === 0 ? root : deleteAt(root, path);
        ops.push(`delete ${label(path)}`);
        break;
      case 1: {
        // Duplicate a key: the object at `path` (or its parent) is written with one entry twice.
        const objectPath = typeof node === 'object' && node !== null && !Array.isArray(node) ? path : path.slice(0, -1);
        const obj = getAt(root, objectPath);
        if (typeof obj === 'object' && obj !== null && !Array.isArray(obj) && !(obj instanceof Raw) && !(obj instanceof Entries)) {
          const entries = Object.entries(obj);
          if (entries.length > 0) {
            const [k] = rng.pick(entries);
            const replacement = rng.chance(0.5) ? swapType(rng, (obj as Record<string, unknown>)[k]) : rng.pick(INTERESTING_NUMBERS);
            root = setAt(root, objectPath, new Entries([...entries, [k, replacement]]));
            ops.push(`duplicate-key ${label([...objectPath, k])}`);
            break;
          }
        }
        ops.push('duplicate-key (none)');
        break;
      }
      case 2:
        root = setAt(root, path, swapType(rng, node));
        ops.push(`swap-type ${label(path)}`);
        break;
      case 3:
        root = setAt(root, path, rng.pick(INTERESTING_NUMBERS));
        ops.push(`number ${label(path)}`);
        break;
      case 4:
        root = setAt(root, path, rng.pick(INTERESTING_STRINGS));
        ops.push(`string ${label(path)}`);
        break;
      case 5: {
        if (Array.isArray(node) && node.length > 0) {
          const times = rng.size(maxGrow);
          const item = rng.pick(node as unknown[]);
          const grown = [...(node as unknown[])];
          for (let i = 0; i < times; i++) grown.push(item);
          root = setAt(root, path, grown);
          ops.push(`grow-list x${times} ${label(path)}`);
        } else if (typeof node === 'string') {
          root = setAt(root, path, node.repeat(Math.max(1, Math.min(rng.size(maxGrow * 10), Math.floor(4_000_000 / Math.max(1, node.length))))));
          ops.push(`grow-string ${label(path)}`);
        } else {
          root = setAt(
            root,
            path,
            Array.from({ length: rng.size(maxGrow) }, () => node),
          );
          ops.push(`repeat-into-list ${label(path)}`);
        }
        break;
      }
      case 6:
        if (Array.isArray(node)) {
          root = setAt(root, path, (node as unknown[]).slice(0, rng.int(node.length)));
          ops.push(`shrink-list ${label(path)}`);
        } else if (typeof node === 'string') {
          root = setAt(root, path, node.slice(0, rng.int(node.length)));
          ops.push(`shrink-string ${label(path)}`);
        } else {
          root = setAt(root, path, rng.chance(0.5) ? [] : {});
          ops.push(`empty ${label(path)}`);
        }
        break;
      case 7: {
        const depth = rng.pick([600, 5_000, 100_000]);
        root = setAt(root, path, nest(node, depth, rng.chance(0.5)));
        ops.push(`nest-${depth} ${label(path)}`);
        break;
      }
      case 8: {
        const objectPath = typeof node === 'object' && node !== null && !Array.isArray(node) ? path : path.slice(0, -1);
        const obj = getAt(root, objectPath);
        if (typeof obj === 'object' && obj !== null && !Array.isArray(obj) && !(obj instanceof Raw) && !(obj instanceof Entries)) {
          const key = rng.pick(PROTOTYPE_KEYS);
          root = setAt(root, [...objectPath, key], rng.pick<unknown>([1, 'x', null, {}, [], { toString: 1 }, { polluted: true }]));
          ops.push(`prototype-key ${key} at ${label(objectPath)}`);
        } else ops.push('prototype-key (none)');
        break;
      }
      case 9: {
        const extra = options.extraKeys ?? [];
        if (extra.length > 0) {
          const [key, value] = rng.pick(extra);
          const objectPath =
            typeof node === 'object' && node !== null && !Array.isArray(node) && !(node instanceof Raw) && !(node instanceof Entries) ? path : [];
          const target = getAt(root, objectPath);
          if (typeof target === 'object' && target !== null && !Array.isArray(target) && !(target instanceof Raw) && !(target instanceof Entries)) {
            root = setAt(root, [...objectPath, key], structuredClone(value));
            ops.push(`add ${label([...objectPath, key])}`);
            break;
          }
        }
        root = setAt(root, path, rng.pick(INTERESTING_NUMBERS));
        ops.push(`number ${label(path)}`);
        break;
      }
      case 10: {
        // Swap two siblings' values (wrong but well-typed data).
        const siblings = paths.filter((p) => p.length === path.length && p.length > 0);
        const other = rng.pick(siblings.length > 0 ? siblings : [path]);
        const a = getAt(root, path);
        const b = getAt(root, other);
        root = setAt(root, path, b);
        root = setAt(root, other, a);
        ops.push(`swap ${label(path)} <> ${label(other)}`);
        break;
      }
      default:
        root = setAt(
          root,
          path,
          rng.pick<unknown>([
            new Raw('NaN'),
            new Raw('Infinity'),
            new Raw('undefined'),
            new Raw("'single'"),
            new Raw('[1,]'),
            new Raw('{"a" 1}'),
            new Raw('"\\ud800"'),
            new Raw('"\\u0000"'),
          ]),
        );
        ops.push(`invalid-token ${label(path)}`);
        break;
    }
  }
  return { value: writeJson(root), op: `json:${ops.join('; ')}` };
}

/** A JSON file mutated as a value (most cases) or as bytes. */
export function mutateJsonFile(rng: Rng, input: unknown, options?: JsonMutationOptions): Mutated<Uint8Array> {
  if (rng.chance(0.8)) {
    const m = mutateJson(rng, input, options);
    const bytes = encoder.encode(m.value);
    if (rng.chance(0.1)) {
      const b = mutateBytes(rng, bytes);
      return { value: b.value, op: `${m.op} + ${b.op}` };
    }
    return { value: bytes, op: m.op };
  }
  return mutateBytes(rng, encoder.encode(JSON.stringify(input, null, 2)));
}

// ---------------------------------------------------------------------------------------------
// Lines of text (JSONL, CSV/TSV, plain text)

export interface TextMutationOptions {
  /** Mutate a line as JSON when it parses (JSONL). */
  readonly jsonLines?: boolean;
  /** CSV: quotes and delimiters are worth breaking. */
  readonly csv?: boolean;
}

/** One line- or text-level mutation, as bytes. */
export function mutateText(rng: Rng, text: string, options: TextMutationOptions = {}): Mutated<Uint8Array> {
  const lines = text.split('\n');
  const i = rng.int(lines.length);
  const op = rng.int(12);
  let out: string[] = [...lines];
  let name: string;
  switch (op) {
    case 0:
      out.splice(i, 1);
      name = 'delete-line';
      break;
    case 1: {
      const times = rng.size(2_000);
      out.splice(i, 0, ...Array.from({ length: times }, () => lines[i]!));
      name = `duplicate-line-x${times}`;
      break;
    }
    case 2: {
      const j = rng.int(lines.length);
      [out[i], out[j]] = [out[j]!, out[i]!];
      name = 'swap-lines';
      break;
    }
    case 3:
      out.splice(
        i,
        0,
        rng.pick(['', ' ', '\t', '"', '""', ',,,,', '\u0000', '{', '[', 'null', '[]', '{}', '1', '"a"', '\r', '\uFEFF', 'x'.repeat(rng.size(1_000_000))]),
      );
      name = 'insert-line';
      break;
    case 4:
      if (options.jsonLines) {
        try {
          const m = mutateJson(rng, JSON.parse(lines[i]!) as unknown, { maxGrow: 2_000 });
          out[i] = m.value.replace(/\n/g, ' ');
          name = `line ${i + 1} ${m.op}`;
          break;
        } catch {
          // not a JSON line: fall through to a character edit
        }
      }
      out[i] = (lines[i] ?? '').slice(0, rng.int((lines[i] ?? '').length + 1)) + rng.pick(['"', ',', '\t', '\\', '\r', '\u0000', '\ud800', '}', '{{ x }}']);
      name = 'cut-line';
      break;
    case 5:
      out = out.map((l) => l.replace(options.csv ? /,/g : /"/g, options.csv ? '\t' : "'"));
      name = options.csv ? 'delimiter-swap' : 'quote-swap';
      break;
    case 6:
      return { value: encoder.encode(out.join('\r\n')), op: 'text:crlf' };
    case 7:
      return { value: encoder.encode(`\uFEFF${text}`), op: 'text:bom' };
    case 8:
      out[i] = `${lines[i] ?? ''}${'"'.repeat(1 + rng.int(3))}`;
      name = 'unbalanced-quote';
      break;
    case 9: {
      const many = rng.size(4_000);
      out = Array.from({ length: many }, (_, k) => lines[k % lines.length]!);
      name = `lines-x${many}`;
      break;
    }
    case 10:
      out = [out.join(rng.pick(['', ' ', '\u2028', '\u0085']))];
      name = 'join-lines';
      break;
    default:
      return mutateBytes(rng, encoder.encode(text));
  }
  const bytes = encoder.encode(out.join('\n'));
  if (rng.chance(0.1)) {
    const b = mutateBytes(rng, bytes);
    return { value: b.value, op: `text:${name} + ${b.op}` };
  }
  return { value: bytes, op: `text:${name}` };
}

// ---------------------------------------------------------------------------------------------
// Jinja chat templates

/** Snippets a hostile or broken template might hold. */
const JINJA_SNIPPETS: readonly string[] = [
  '{% for i in range(10**9) %}x{% endfor %}',
  '{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}',
  '{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}',
  '{% macro g() %}{{ caller() }}{% endmacro %}{% call g() %}{{ g() }}{% endcall %}',
  "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
  '{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}',
  "{{ 'x' | indent(10**8) }}",
  '{{ messages | tojson(indent=10**8) }}',
  "{{ (messages[0]['content'] * 3) }}",
  "{{ messages[0]['content'].replace('', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy') }}",
  '{{ messages.__class__ }}{{ messages.constructor }}{{ range.__globals__ }}{{ raise_exception.constructor }}',
  "{{ range.constructor('return process')() }}",
  '{{ raise_exception(messages) }}',
  "{{ raise_exception('Only user and assistant roles are supported!') }}",
  '{{ strftime_now(1) }}{{ strftime_now("%d %b %Y") }}',
  '{{ messages[10**12] }}{{ messages[-10**12] }}',
  '{{ 10**400 }}{{ 1/0 }}{{ 1//0 }}{{ 1%0 }}',
  `{{ ${'('.repeat(20_000)}1${')'.repeat(20_000)} }}`,
  `${'{% if true %}'.repeat(3_000)}x${'{% endif %}'.repeat(3_000)}`,
  '{% for m in messages %}{% for m2 in messages %}{% for m3 in messages %}{{ m3.content }}{% endfor %}{% endfor %}{% endfor %}',
  '{{ messages|map(attribute="content")|join("z" * 10) }}',
  '{% set x = messages %}{% for i in range(30) %}{% set x = [x, x] %}{% endfor %}{{ x|tojson }}',
  '{{ "%s" % messages }}{{ messages|selectattr("role")|list }}{{ messages|groupby("role") }}',
  '{%',
  '{{',
  '%}',
  '}}',
  '{# unclosed comment',
  '{% endfor %}',
  '{% else %}',
  '{% raw %}',
];

const JINJA_WORDS: readonly string[] = [
  'for',
  'endfor',
  'if',
  'endif',
  'elif',
  'else',
  'set',
  'macro',
  'endmacro',
  'in',
  'not',
  'and',
  'or',
  'loop',
  'messages',
  'message',
  'content',
  'role',
  'none',
  'true',
  'range',
  'namespace',
];

/** One mutation of a Jinja template's source. */
export function mutateTemplate(rng: Rng, source: string): Mutated<string> {
  const at = rng.int(source.length + 1);
  // Positions just after a tag close are where a snippet reads as a statement.
  const tagEnds = [...source.matchAll(/%\}|\}\}/g)].map((m) => m.index + 2);
  const boundary = tagEnds.length > 0 && rng.chance(0.7) ? rng.pick(tagEnds) : at;
  switch (rng.int(8)) {
    case 0:
    case 1: {
      const snippet = rng.pick(JINJA_SNIPPETS);
      return { value: source.slice(0, boundary) + snippet + source.slice(boundary), op: `jinja:insert ${snippet.slice(0, 48)}` };
    }
    case 2:
      return { value: source.slice(0, at), op: 'jinja:truncate' };
    case 3: {
      const end = Math.min(source.length, at + rng.size(200));
      return { value: source.slice(0, at) + source.slice(end), op: 'jinja:delete-range' };
    }
    case 4: {
      const end = Math.min(source.length, at + rng.size(400));
      const times = 1 + rng.size(200);
      return { value: source.slice(0, end) + source.slice(at, end).repeat(times) + source.slice(end), op: `jinja:duplicate-range-x${times}` };
    }
    case 5: {
      const words = [...source.matchAll(/\b[a-z_]+\b/g)];
      if (words.length === 0) return { value: source + rng.pick(JINJA_SNIPPETS), op: 'jinja:append' };
      const w = rng.pick(words);
      const replacement = rng.pick([...JINJA_WORDS, '__proto__', 'constructor', '__class__', '10**9']);
      return { value: source.slice(0, w.index) + replacement + source.slice(w.index + w[0].length), op: `jinja:word ${w[0]}->${replacement}` };
    }
    case 6: {
      const numbers = [...source.matchAll(/\b\d+\b/g)];
      if (numbers.length === 0)
        return { value: source.slice(0, boundary) + '{{ range(10**9)|length }}' + source.slice(boundary), op: 'jinja:insert range-length' };
      const num = rng.pick(numbers);
      const replacement = rng.pick(['1000000000', '-1', '10**9', '0', '99999999999999999999']);
      return { value: source.slice(0, num.index) + replacement + source.slice(num.index + num[0].length), op: `jinja:number ${num[0]}->${replacement}` };
    }
    default: {
      const chars = '{}%#()[]\'"|~.,:=-+*/\\ \n\u0000';
      const junk = Array.from({ length: 1 + rng.int(6) }, () => chars[rng.int(chars.length)]).join('');
      return { value: source.slice(0, at) + junk + source.slice(at), op: 'jinja:insert-chars' };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// safetensors

/** Splits a safetensors file into its header value and data buffer (the seed files are well formed). */
export function splitSafetensors(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return { header: JSON.parse(decoder.decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>, data: bytes.subarray(8 + n) };
}

function joinSafetensors(headerText: string, data: Uint8Array, claimedLength?: bigint): Uint8Array {
  const json = encoder.encode(headerText);
  const head = new Uint8Array(8);
  new DataView(head.buffer).setBigUint64(0, claimedLength ?? BigInt(json.byteLength), true);
  return concatBytes([head, json, data]);
}

const DTYPES_TO_TRY = ['F32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'F4', 'F6_E2M3', 'Q4_0', 'f32', '', 'F32 '];

/** One mutation of a safetensors file aware of its layout. */
export function mutateSafetensors(rng: Rng, bytes: Uint8Array): Mutated<Uint8Array> {
  const { header, data } = splitSafetensors(bytes);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = names.length > 0 ? rng.pick(names) : '__metadata__';
  const entry = header[name] as { dtype: string; shape: number[]; data_offsets: [number, number] } | undefined;
  type Entry = { dtype: unknown; shape: unknown; data_offsets: unknown };
  const edit = (op: string, change: (e: Entry, h: Record<string, unknown>) => void): Mutated<Uint8Array> => {
    const h = structuredClone(header);
    const e = (h[name] ?? {}) as Entry;
    h[name] = e;
    change(e, h);
    return { value: joinSafetensors(writeJson(h), data), op: `safetensors:${op} '${name}'` };
  };
  switch (rng.int(12)) {
    case 0:
      return edit('dtype', (e) => {
        e.dtype = rng.pick(DTYPES_TO_TRY);
      });
    case 1:
      return edit('shape', (e) => {
        const shape = [...(entry?.shape ?? [])];
        const choice = rng.int(6);
        if (choice === 0) shape.push(rng.pick([1, 2, 0]));
        else if (choice === 1) shape.pop();
        else if (choice === 2 && shape.length > 0) shape[rng.int(shape.length)] = rng.pick([0, 1, 2 ** 31, 2 ** 32, 2 ** 53, -1]);
        else if (choice === 3) shape.reverse();
        else if (choice === 4) shape.push(...Array.from({ length: rng.size(10_000) }, () => 1));
        else shape.splice(0, shape.length, 2 ** 20, 2 ** 20, 2 ** 20);
        e.shape = shape;
      });
    case 2:
      return edit('offsets', (e) => {
        const [b, end] = entry?.data_offsets ?? [0, 0];
        const choice = rng.int(6);
        e.data_offsets =
          choice === 0
            ? [b + 1, end + 1]
            : choice === 1
              ? [end, b]
              : choice === 2
                ? [b, 2 ** 31]
                : choice === 3
                  ? [b, end - 1]
                  : choice === 4
                    ? [0, end - b]
                    : [b, end, 0];
      });
    case 3: {
      // Lie in the u64 header length.
      const text = writeJson(header);
      const length = BigInt(encoder.encode(text).byteLength);
      const claimed = rng.pick([0n, 1n, length - 1n, length + 1n, length + 8n, 2n ** 31n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 100_000_001n]);
      return { value: joinSafetensors(text, data, claimed), op: `safetensors:header-length ${claimed}` };
    }
    case 4:
      return { value: bytes.subarray(0, bytes.byteLength - 1 - rng.int(Math.max(1, data.byteLength))), op: 'safetensors:truncate-data' };
    case 5: {
      const m = mutateJson(rng, header, {
        maxGrow: 5_000,
        extraKeys: [
          ['__metadata__', { format: 1 }],
          ['__metadata__', 'pt'],
          ['extra.weight', { dtype: 'F32', shape: [1], data_offsets: [0, 4] }],
        ],
      });
      return { value: joinSafetensors(m.value, data), op: `safetensors:${m.op}` };
    }
    case 6:
      return edit('overlap', (e, h) => {
        const other = h[rng.pick(names)] as Entry | undefined;
        e.data_offsets = structuredClone(other?.data_offsets);
      });
    case 7:
      return {
        value: joinSafetensors(writeJson(new Entries([...Object.entries(header), [name, header[name]]])), data),
        op: `safetensors:duplicate-entry '${name}'`,
      };
    case 8: {
      // NaN and Inf weights: valid files; the loader may accept them.
      const out = bytes.slice();
      const start = bytes.byteLength - data.byteLength;
      for (let i = 0; i < 1 + rng.int(8) && data.byteLength >= 4; i++) {
        const at = start + 4 * rng.int(data.byteLength / 4);
        out.set(
          rng.pick([
            [0, 0, 0xc0, 0x7f],
            [0, 0, 0x80, 0x7f],
            [0, 0, 0x80, 0xff],
          ]),
          at,
        );
      }
      return { value: out, op: 'safetensors:nan-weights' };
    }
    case 9:
      return { value: concatBytes([bytes, new Uint8Array(1 + rng.size(64))]), op: 'safetensors:trailing-bytes' };
    case 10:
      return { value: joinSafetensors(' '.repeat(rng.size(1000)) + writeJson(header) + ' '.repeat(rng.size(1000)), data), op: 'safetensors:padded-header' };
    default:
      return mutateBytes(rng, bytes);
  }
}

// ---------------------------------------------------------------------------------------------
// Structured values (IndexedDB records are structured clones, not bytes)

/** One or a few mutations of a plain value, returned as a new value (may hold NaN, -0, deep nesting). */
export function mutateValue(rng: Rng, input: unknown): Mutated<unknown> {
  let root = deepCopy(input);
  const ops: string[] = [];
  const count = 1 + (rng.chance(0.3) ? rng.int(3) : 0);
  for (let m = 0; m < count; m++) {
    const paths = nodePaths(root);
    const path = rng.pick(paths);
    const node = getAt(root, path);
    switch (rng.int(9)) {
      case 0:
        root = path.length === 0 ? undefined : deleteAt(root, path);
        ops.push(`delete ${label(path)}`);
        break;
      case 1:
        root = setAt(root, path, swapType(rng, node));
        ops.push(`swap-type ${label(path)}`);
        break;
      case 2:
        root = setAt(root, path, rng.pick<unknown>([Number.NaN, Infinity, -Infinity, -0, 1e308, -1, 2 ** 53 + 2, 8.64e15 + 1, undefined]));
        ops.push(`number ${label(path)}`);
        break;
      case 3: {
        let deep: unknown = node;
        const depth = rng.pick([100, 5_000, 100_000]);
        for (let i = 0; i < depth; i++) deep = rng.chance(0.5) ? [deep] : { a: deep };
        root = setAt(root, path, deep);
        ops.push(`nest-${depth} ${label(path)}`);
        break;
      }
      case 4:
        if (Array.isArray(node) && node.length > 0) {
          const times = rng.size(200_000);
          const item = node[rng.int(node.length)] as unknown;
          root = setAt(root, path, [...(node as unknown[]), ...Array.from({ length: times }, () => item)]);
          ops.push(`grow-list x${times} ${label(path)}`);
        } else {
          root = setAt(root, path, typeof node === 'string' ? node.repeat(1 + rng.size(100_000)) : []);
          ops.push(`grow ${label(path)}`);
        }
        break;
      case 5: {
        const objectPath = typeof node === 'object' && node !== null && !Array.isArray(node) ? path : path.slice(0, -1);
        const obj = getAt(root, objectPath);
        if (typeof obj === 'object' && obj !== null && !Array.isArray(obj)) {
          const key = rng.pick(PROTOTYPE_KEYS);
          root = setAt(root, [...objectPath, key], rng.pick<unknown>([1, 'x', null, {}, [], { toString: 1 }, { polluted: true }]));
          ops.push(`prototype-key ${key} at ${label(objectPath)}`);
        } else ops.push('prototype-key (none)');
        break;
      }
      case 6:
        root = setAt(
          root,
          path,
          rng.pick<unknown>([new Date(Number.NaN), new Map([[1, 2]]), new Set([1]), new Uint8Array(4), /x/, Object.create(null) as unknown, 10n]),
        );
        ops.push(`exotic ${label(path)}`);
        break;
      case 7:
        root = setAt(root, path, rng.pick(INTERESTING_STRINGS));
        ops.push(`string ${label(path)}`);
        break;
      default: {
        const siblings = paths.filter((p) => p.length === path.length && p.length > 0);
        const other = rng.pick(siblings.length > 0 ? siblings : [path]);
        const a = getAt(root, path);
        root = setAt(root, path, getAt(root, other));
        root = setAt(root, other, a);
        ops.push(`swap ${label(path)} <> ${label(other)}`);
      }
    }
  }
  return { value: root, op: `value:${ops.join('; ')}` };
}
