// The CLI's command table and its driver: runCli(argv, env) parses, runs one command and returns
// the exit code (never throws, never exits), so tests run commands in-process and main.ts only
// wires it to the process. Errors are printed to stderr: usage errors with the command's usage,
// typed errors with their own message, internal ones (a bug) with their stack. The exit code
// comes from the error's kind (common.ts exitCodeFor).

import { formatUsage, parseArgs, UsageError, type CommandSpec } from '../args';
import { EXIT_OK, EXIT_USAGE, exitCodeFor, type CliEnv } from './common';
import { generateSpec, runGenerate } from './generate';
import { infoSpec, runInfo } from './info';
import { logitsSpec, runLogits } from './logits';
import { compareSpec, runCompare } from './compare';
import { exportSpec, runExport } from './export';
import { nf4Spec, runNf4 } from './nf4';
import { quantErrorSpec, runQuantError } from './quantError';
import { runTrain, trainSpec } from './train';
import type { ParsedArgs } from '../args';
import { errorKind, errorMessage } from '../../errors';

export const PROGRAM = 'npm run cli --';

interface Command {
  readonly spec: CommandSpec;
  run(args: ParsedArgs, env: CliEnv): Promise<unknown>;
  /** Flags that may be given more than once (--set): their values reach the command joined by newlines. */
  readonly repeatable?: readonly string[];
}

export const COMMANDS: Readonly<Record<string, Command>> = {
  info: { spec: infoSpec, run: runInfo },
  logits: { spec: logitsSpec, run: runLogits },
  generate: { spec: generateSpec, run: runGenerate },
  train: { spec: trainSpec, run: runTrain, repeatable: ['set'] },
  compare: { spec: compareSpec, run: runCompare, repeatable: ['set'] },
  'quant-error': { spec: quantErrorSpec, run: runQuantError },
  nf4: { spec: nf4Spec, run: runNf4 },
  export: { spec: exportSpec, run: runExport, repeatable: ['set'] },
};

/**
 * Joins every occurrence of a repeatable flag (`--set a=1 --set=b=2`) into one
 * (`--set a=1\nb=2`) placed where the first was, so parseArgs sees it once. Stops at `--`.
 */
export function joinRepeated(argv: readonly string[], flags: readonly string[]): string[] {
  if (flags.length === 0) return [...argv];
  const values = new Map<string, string[]>();
  const out: (string | { flag: string })[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const flag = flags.find((f) => arg === `--${f}` || arg.startsWith(`--${f}=`));
    if (flag === undefined) {
      out.push(arg);
      continue;
    }
    let value: string | undefined;
    if (arg.startsWith(`--${flag}=`)) value = arg.slice(flag.length + 3);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) value = argv[++i]!;
    if (value === undefined) {
      out.push(arg); // parseArgs reports the missing value
      continue;
    }
    const list = values.get(flag);
    if (list) list.push(value);
    else {
      values.set(flag, [value]);
      out.push({ flag });
    }
  }
  return out.flatMap((a) => (typeof a === 'string' ? [a] : [`--${a.flag}=${values.get(a.flag)!.join('\n')}`]));
}

export function overview(): string {
  const lines = [
    `Usage: ${PROGRAM} <command> [arguments] [options]`,
    '',
    'Adapter Studio on the command line: the same engine as the web app, on Dawn (WebGPU) in Node.',
    '',
    'Commands:',
    ...Object.values(COMMANDS).map((c) => `  ${c.spec.name.padEnd(12)}${c.spec.summary}`),
    `  ${'help'.padEnd(12)}Show this overview, or a command's options: help <command>`,
    '',
    'Exit codes: 0 ok, 1 internal error (a bug), 2 usage error, 3 bad input or unsupported (model folder, data, values), 4 GPU unavailable, failed, lost or out of memory, 130 cancelled.',
  ];
  return lines.join('\n');
}

/** Runs one command line (without the program name); returns the exit code. */
export async function runCli(argv: readonly string[], env: CliEnv): Promise<number> {
  const { io } = env;
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic !== undefined) {
      const command = COMMANDS[topic];
      if (!command) {
        io.err(`unknown command '${topic}'\n\n${overview()}\n`);
        return EXIT_USAGE;
      }
      io.out(`${formatUsage(PROGRAM, command.spec)}\n`);
      return EXIT_OK;
    }
    if (name === undefined) {
      io.err(`${overview()}\n`);
      return EXIT_USAGE;
    }
    io.out(`${overview()}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`unknown command '${name}'\n\n${overview()}\n`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`${formatUsage(PROGRAM, command.spec)}\n`);
    return EXIT_OK;
  }
  try {
    await command.run(parseArgs(joinRepeated(rest, command.repeatable ?? []), command.spec), env);
    return EXIT_OK;
  } catch (error) {
    const code = exitCodeFor(error);
    if (error instanceof UsageError) {
      const spec = error.command !== undefined ? COMMANDS[error.command]?.spec : undefined;
      io.err(`error: ${error.message}\n\n${spec ? formatUsage(PROGRAM, spec) : overview()}\n`);
    } else if (errorKind(error) !== 'internal') {
      io.err(`error: ${errorMessage(error)}\n`);
    } else {
      io.err(`internal error (a bug; please report it): ${error instanceof Error && error.stack ? error.stack : errorMessage(error)}\n`);
    }
    return code;
  }
}
