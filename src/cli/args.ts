// A small command-line parser for the CLI (no dependency): each command declares its positional
// arguments and flags; parseArgs checks the argv against that declaration and converts values.
// Accepted forms: `--name value`, `--name=value`, boolean `--name`, and `--` to end the flags.
// A value may start with '-' (`--temperature -1` is a value, not a flag) unless it starts with
// '--'. Anything the declaration does not allow (unknown flag, missing value, a number that is
// not one, a repeated flag, a missing or extra positional) throws UsageError, which the CLI turns
// into exit code 2 and the command's usage. Not here: what the values mean (the commands check
// them against the model and the data).

import { StudioError, type ErrorKind } from '../errors';

export class UsageError extends StudioError {
  override name = 'UsageError';
  override readonly kind: ErrorKind = 'usage';
  constructor(
    message: string,
    /** The command whose usage should be shown (undefined: the overview). */
    readonly command?: string,
  ) {
    super(message);
  }
}

export type FlagType = 'string' | 'number' | 'int' | 'boolean';

export interface FlagSpec {
  readonly type: FlagType;
  /** Placeholder in the usage line (e.g. "N", "FILE"). */
  readonly value?: string;
  readonly description: string;
  /** Shown in the usage; the command applies it (parseArgs leaves absent flags undefined). */
  readonly default?: string | number | boolean;
  /** Inclusive bounds for 'number' and 'int'. */
  readonly min?: number;
  readonly max?: number;
  /** Bound that the value must exceed (exclusive), for 'number'. */
  readonly above?: number;
}

export interface PositionalSpec {
  readonly name: string;
  readonly description: string;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly positionals: readonly PositionalSpec[];
  readonly flags: Readonly<Record<string, FlagSpec>>;
  /** Example invocations shown under the usage. */
  readonly examples?: readonly string[];
}

export type FlagValue = string | number | boolean;

export class ParsedArgs {
  constructor(
    readonly command: string,
    readonly positionals: readonly string[],
    private readonly values: ReadonlyMap<string, FlagValue>,
  ) {}

  has(flag: string): boolean {
    return this.values.has(flag);
  }

  string(flag: string): string | undefined;
  string(flag: string, fallback: string): string;
  string(flag: string, fallback?: string): string | undefined {
    const v = this.values.get(flag);
    return v === undefined ? fallback : String(v);
  }

  number(flag: string): number | undefined;
  number(flag: string, fallback: number): number;
  number(flag: string, fallback?: number): number | undefined {
    const v = this.values.get(flag);
    return typeof v === 'number' ? v : fallback;
  }

  bool(flag: string): boolean {
    return this.values.get(flag) === true;
  }
}

function convert(command: string, flag: string, spec: FlagSpec, raw: string): FlagValue {
  const bad = (what: string): never => {
    throw new UsageError(`--${flag} must be ${what}, got '${raw}'`, command);
  };
  if (spec.type === 'string') {
    if (raw === '') bad('a non-empty value');
    return raw;
  }
  const trimmed = raw.trim();
  const value = trimmed === '' ? Number.NaN : Number(trimmed);
  const range = [
    spec.min !== undefined ? `≥ ${spec.min}` : '',
    spec.above !== undefined ? `> ${spec.above}` : '',
    spec.max !== undefined ? `≤ ${spec.max}` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  const what = `${spec.type === 'int' ? 'a whole number' : 'a number'}${range ? ` ${range}` : ''}`;
  if (!Number.isFinite(value)) bad(what);
  if (spec.type === 'int' && !Number.isSafeInteger(value)) bad(what);
  if (spec.min !== undefined && value < spec.min) bad(what);
  if (spec.max !== undefined && value > spec.max) bad(what);
  if (spec.above !== undefined && !(value > spec.above)) bad(what);
  return value;
}

/** Parses the arguments after the command name against `spec`. Throws UsageError. */
export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const values = new Map<string, FlagValue>();
  const positionals: string[] = [];
  let flagsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (flagsEnded || !arg.startsWith('--') || arg === '-') {
      if (!flagsEnded && arg.startsWith('-') && arg !== '-' && !/^-\d/.test(arg)) {
        throw new UsageError(`unknown option '${arg}' (options are spelled --name)`, spec.name);
      }
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      flagsEnded = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const flag = spec.flags[name];
    if (!flag) {
      const known = Object.keys(spec.flags);
      const close = known.filter((k) => k.startsWith(name.slice(0, 3)) && name.length >= 3);
      throw new UsageError(
        `unknown option --${name} for '${spec.name}'` + (close.length > 0 ? `; did you mean ${close.map((k) => `--${k}`).join(' or ')}?` : ''),
        spec.name,
      );
    }
    if (values.has(name)) throw new UsageError(`--${name} is given twice`, spec.name);
    if (flag.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value (got '${arg.slice(eq + 1)}')`, spec.name);
      values.set(name, true);
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        throw new UsageError(`--${name} needs a value${flag.value ? ` (${flag.value})` : ''}`, spec.name);
      }
      raw = next;
      i++;
    }
    values.set(name, convert(spec.name, name, flag, raw));
  }
  if (positionals.length < spec.positionals.length) {
    const missing = spec.positionals.slice(positionals.length).map((p) => `<${p.name}>`);
    throw new UsageError(`'${spec.name}' needs ${missing.join(' ')}`, spec.name);
  }
  if (positionals.length > spec.positionals.length) {
    const extra = positionals.slice(spec.positionals.length);
    throw new UsageError(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((a) => `'${a}'`).join(' ')} for '${spec.name}'`, spec.name);
  }
  return new ParsedArgs(spec.name, positionals, values);
}

/** The command's usage: synopsis, positionals, flags with defaults, examples. */
export function formatUsage(program: string, spec: CommandSpec): string {
  const lines: string[] = [];
  const flagSyntax = (name: string, f: FlagSpec): string => `--${name}${f.type === 'boolean' ? '' : ` ${f.value ?? 'VALUE'}`}`;
  lines.push(
    `Usage: ${program} ${spec.name} ${spec.positionals.map((p) => `<${p.name}>`).join(' ')} [options]`.replace(
      /\s+\[options\]$/,
      Object.keys(spec.flags).length > 0 ? ' [options]' : '',
    ),
  );
  lines.push('', spec.summary);
  if (spec.positionals.length > 0) {
    lines.push('', 'Arguments:');
    for (const p of spec.positionals) lines.push(`  <${p.name}>`.padEnd(26) + p.description);
  }
  const names = Object.keys(spec.flags);
  if (names.length > 0) {
    lines.push('', 'Options:');
    for (const name of names) {
      const f = spec.flags[name]!;
      const syntax = `  ${flagSyntax(name, f)}`;
      const text = f.description + (f.default !== undefined ? ` (default ${f.default})` : '');
      lines.push(syntax.length < 26 ? syntax.padEnd(26) + text : `${syntax}\n${' '.repeat(26)}${text}`);
    }
  }
  if (spec.examples && spec.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const e of spec.examples) lines.push(`  ${program} ${e}`);
  }
  return lines.join('\n');
}
