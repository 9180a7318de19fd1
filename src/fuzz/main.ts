// `npm run fuzz [-- --cases N --seed S --kind K --case I --no-write]`: fuzzes every input kind
// (kinds.ts), N cases each (default 1000), prints a table per kind and the failures, and writes
// the figures into RELIABILITY.md (between its fuzz-figures markers) after a full run.
// Each kind runs in a worker thread watched from here: a case that neither finishes nor answers
// within HANG_MS + a grace period is a hang even if it spins synchronously (the worker is
// stopped and restarted at the next case), and a worker that dies (out of memory, a native
// crash) is a crash of the case it was running. Exit code 1 when any case failed a target.

import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { HANG_MS, runCase, summarize, type CaseResult, type KindReport } from './harness';
import { KINDS, kindByName } from './kinds';
import { errorMessage } from '../errors';
import { UsageError } from '../cli/args';

interface WorkerJob {
  readonly kind: string;
  readonly seed: number;
  readonly from: number;
  readonly to: number;
}

type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'start'; readonly index: number; readonly op: string }
  | { readonly type: 'result'; readonly result: CaseResult; readonly rss: number }
  | { readonly type: 'done' };

/**
 * A worker thread does not inherit tsx's loader hooks, so it registers them (and the WGSL `?raw`
 * import hooks) itself before importing this file.
 */
const WORKER_BOOTSTRAP = `
import('tsx/esm/api')
  .then(({ register }) => { register(); return import(${JSON.stringify(new URL('../../scripts/register-raw-imports.mjs', import.meta.url).href)}); })
  .then(() => import(${JSON.stringify(import.meta.url)}));
`;

/** Grace on top of HANG_MS before the watchdog stops a silent worker (setup, GC pauses). */
const WATCHDOG_GRACE_MS = 10_000;

async function workerMain(job: WorkerJob): Promise<void> {
  const port = parentPort!;
  const post = (m: WorkerMessage): void => port.postMessage(m);
  const kind = kindByName(job.kind)!;
  const ctx = await kind.setup();
  post({ type: 'ready' });
  try {
    for (let i = job.from; i < job.to; i++) {
      const result = await runCase(ctx, kind.name, job.seed, i, (c) => post({ type: 'start', index: i, op: c.op.slice(0, 300) }));
      post({ type: 'result', result, rss: process.memoryUsage().rss });
      // A case abandoned at its time budget may still be running: start the next one in a fresh worker.
      if (result.status === 'hang') process.exit(0);
    }
  } finally {
    await ctx.dispose();
  }
  post({ type: 'done' });
}

/** Runs cases [from, to) of a kind in a worker; resolves with the results, restarting after a hang or a crash. */
async function runKindInWorkers(
  kindName: string,
  seed: number,
  from: number,
  to: number,
  log: (r: CaseResult) => void,
): Promise<{ results: CaseResult[]; peakRss: number }> {
  const results: CaseResult[] = [];
  const startRss = process.memoryUsage().rss;
  let peakRss = 0;
  let next = from;
  while (next < to) {
    const outcome = await new Promise<{ stoppedAt: number | null; why: string; op?: string }>((resolve) => {
      const worker = new Worker(WORKER_BOOTSTRAP, {
        eval: true,
        workerData: { kind: kindName, seed, from: next, to } satisfies WorkerJob,
        resourceLimits: { maxOldGenerationSizeMb: 3072 },
      });
      let current: number | null = null;
      let currentOp = '';
      let ready = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let settled = false;
      const finish = (value: { stoppedAt: number | null; why: string; op?: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      };
      const arm = (ms: number): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          void worker.terminate();
          finish({ stoppedAt: current, why: `no answer within ${Math.round(ms / 1000)} s (the worker was stopped)`, op: currentOp });
        }, ms);
      };
      arm(60_000); // setup
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') ready = true;
        else if (m.type === 'start') {
          current = m.index;
          currentOp = m.op;
          arm(HANG_MS + WATCHDOG_GRACE_MS);
        } else if (m.type === 'result') {
          results.push(m.result);
          log(m.result);
          peakRss = Math.max(peakRss, m.rss - startRss);
          next = m.result.index + 1;
          current = null;
          arm(60_000);
        } else if (m.type === 'done') {
          finish({ stoppedAt: null, why: '' });
        }
      });
      const died = (why: string): void => finish({ stoppedAt: ready ? (current ?? next) : -1, why, op: currentOp });
      worker.on('error', (error) => died(`the worker died: ${String(error)}`));
      worker.on('exit', (code) => (code === 0 ? finish({ stoppedAt: null, why: '' }) : died(`the worker exited with code ${code}`)));
    });
    if (outcome.stoppedAt === null) continue; // done (next === to), or a fresh worker after an abandoned case
    if (outcome.stoppedAt < 0) {
      // The kind could not even be set up (its seeds or baseline failed): one failure, not one per case.
      const result: CaseResult = { kind: kindName, index: next, seed, status: 'crash', ms: 0, op: '(setup)', message: outcome.why };
      results.push(result);
      log(result);
      break;
    }
    const index = outcome.stoppedAt;
    const status = outcome.why.startsWith('no answer') ? 'hang' : 'crash';
    const result: CaseResult = {
      kind: kindName,
      index,
      seed,
      status,
      ms: status === 'hang' ? HANG_MS + WATCHDOG_GRACE_MS : 0,
      op: outcome.op || '(see --case to replay)',
      message: outcome.why,
    };
    results.push(result);
    log(result);
    next = index + 1;
  }
  return { results, peakRss };
}

interface Options {
  cases: number;
  seed: number;
  kind?: string;
  caseIndex?: number;
  write: boolean;
  inProcess: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { cases: 1000, seed: 1, write: true, inProcess: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    const int = (v: string): number => {
      if (!/^\d+$/.test(v)) throw new UsageError(`${arg} must be a whole number, got '${v}'`);
      return Number(v);
    };
    if (arg === '--cases') options.cases = int(value());
    else if (arg === '--seed') options.seed = int(value());
    else if (arg === '--kind') options.kind = value();
    else if (arg === '--case') options.caseIndex = int(value());
    else if (arg === '--no-write') options.write = false;
    else if (arg === '--in-process') options.inProcess = true;
    else throw new UsageError(`unknown option ${arg}; options: --cases N --seed S --kind K --case I --no-write --in-process`);
  }
  if (options.kind !== undefined && !kindByName(options.kind))
    throw new UsageError(`unknown kind '${options.kind}'; kinds: ${KINDS.map((k) => k.name).join(', ')}`);
  return options;
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

export function formatReports(reports: readonly KindReport[]): string {
  const header = ['kind', 'cases', 'accepted', 'refused', 'crashes', 'bad msg', 'hangs', 'state', 'slowest ms', 'total s'];
  const rows = reports.map((r) => [
    r.kind,
    String(r.cases),
    String(r.accepted),
    String(r.refused),
    String(r.failures.filter((f) => f.status === 'crash').length),
    String(r.failures.filter((f) => f.status === 'message').length),
    String(r.failures.filter((f) => f.status === 'hang').length),
    String(r.failures.filter((f) => f.status === 'state').length),
    r.slowest ? r.slowest.ms.toFixed(0) : '-',
    (r.totalMs / 1000).toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => pad(c, widths[i]!, i > 0)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function markdownFigures(reports: readonly KindReport[], options: Options, date: string): string {
  const total = (f: (r: KindReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
  const lines = [
    `Run: \`npm run fuzz -- --cases ${options.cases} --seed ${options.seed}\` on ${date} (Node ${process.version}, ${process.platform}/${process.arch}).`,
    '',
    '| kind | input | cases | accepted | refused | crashes | bad messages | hangs | state changed | slowest case |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...reports.map(
      (r) =>
        `| ${r.kind} | ${r.input} | ${r.cases} | ${r.accepted} | ${r.refused} | ${r.failures.filter((f) => f.status === 'crash').length} | ${r.failures.filter((f) => f.status === 'message').length} | ` +
        `${r.failures.filter((f) => f.status === 'hang').length} | ${r.failures.filter((f) => f.status === 'state').length} | ` +
        `${r.slowest ? `${r.slowest.ms.toFixed(0)} ms (case ${r.slowest.index})` : '-'} |`,
    ),
    `| **all** | | **${total((r) => r.cases)}** | **${total((r) => r.accepted)}** | **${total((r) => r.refused)}** | **${total((r) => r.failures.filter((f) => f.status === 'crash').length)}** | ` +
      `**${total((r) => r.failures.filter((f) => f.status === 'message').length)}** | ` +
      `**${total((r) => r.failures.filter((f) => f.status === 'hang').length)}** | **${total((r) => r.failures.filter((f) => f.status === 'state').length)}** | ` +
      `${Math.max(...reports.map((r) => r.slowest?.ms ?? 0)).toFixed(0)} ms |`,
    '',
    `Wall time ${(total((r) => r.totalMs) / 1000).toFixed(0)} s; largest growth of the process's memory during one kind: ` +
      `${(Math.max(...reports.map((r) => r.peakRssGrowth)) / 2 ** 20).toFixed(0)} MiB.`,
  ];
  const failures = reports.flatMap((r) => r.failures);
  if (failures.length > 0) {
    lines.push('', 'Failures:', '');
    for (const f of failures.slice(0, 50)) lines.push(`- ${f.kind} case ${f.index} (${f.status}): ${f.op} → ${(f.message ?? '').slice(0, 300)}`);
  }
  return lines.join('\n');
}

const START = '<!-- fuzz-figures:start -->';
const END = '<!-- fuzz-figures:end -->';

async function writeReliability(figures: string): Promise<string> {
  const path = fileURLToPath(new URL('../../RELIABILITY.md', import.meta.url));
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    text = '# Reliability\n';
  }
  const block = `${START}\n${figures}\n${END}`;
  const at = text.indexOf(START);
  const end = text.indexOf(END);
  text = at >= 0 && end > at ? text.slice(0, at) + block + text.slice(end + END.length) : `${text.trimEnd()}\n\n${block}\n`;
  await writeFile(path, text);
  return path;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const kinds = options.kind ? [kindByName(options.kind)!] : KINDS;
  const reports: KindReport[] = [];
  for (const kind of kinds) {
    const from = options.caseIndex ?? 0;
    const to = options.caseIndex !== undefined ? options.caseIndex + 1 : options.cases;
    process.stderr.write(`${kind.name}: ${to - from} cases…`);
    const start = performance.now();
    const log = (r: CaseResult): void => {
      if (options.caseIndex !== undefined) {
        process.stderr.write(`\n  case ${r.index} (seed ${r.seed}): ${r.status} in ${r.ms.toFixed(0)} ms\n  op: ${r.op}\n  ${r.message ?? ''}\n`);
      } else if (r.status !== 'accepted' && r.status !== 'refused') {
        process.stderr.write(`\n  case ${r.index} ${r.status}: ${r.op} → ${(r.message ?? '').slice(0, 400)}`);
      }
    };
    let results: CaseResult[];
    let peakRss = 0;
    if (options.inProcess) {
      const ctx = await kind.setup();
      results = [];
      try {
        for (let i = from; i < to; i++) {
          const r = await runCase(ctx, kind.name, options.seed, i);
          results.push(r);
          log(r);
        }
      } finally {
        await ctx.dispose();
      }
    } else {
      ({ results, peakRss } = await runKindInWorkers(kind.name, options.seed, from, to, log));
    }
    const report = summarize(kind, results, performance.now() - start, peakRss);
    reports.push(report);
    process.stderr.write(` ${report.failures.length === 0 ? 'ok' : `${report.failures.length} failed`} (${(report.totalMs / 1000).toFixed(1)} s)\n`);
  }
  process.stdout.write(`\n${formatReports(reports)}\n`);
  for (const r of reports) {
    const top = [...r.refusals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6);
    if (top.length > 0) process.stdout.write(`\n${r.kind}: most frequent refusals\n${top.map(([m, n]) => `  ${String(n).padStart(4)}  ${m}`).join('\n')}\n`);
  }
  const failures = reports.flatMap((r) => r.failures);
  if (failures.length > 0) {
    process.stdout.write(`\n${failures.length} cases failed a target; replay one with --kind K --case I --seed ${options.seed}\n`);
  }
  if (options.write && options.kind === undefined && options.caseIndex === undefined) {
    const path = await writeReliability(markdownFigures(reports, options, new Date().toISOString().slice(0, 10)));
    process.stdout.write(`\nfigures written to ${path}\n`);
  }
  return failures.length > 0 ? 1 : 0;
}

if (isMainThread) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`fuzz: ${errorMessage(error)}\n`);
      process.exitCode = 2;
    },
  );
} else {
  void workerMain(workerData as WorkerJob);
}
