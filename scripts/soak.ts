// `npm run soak [-- --steps N --every K --no-write]`: the long-run check of ARCHITECTURE.md
// convention 7 (steady-state steps allocate nothing). An interleaved LoRA / PiSSA / QLoRA
// comparison on test/fixtures/tiny-llama for 1000 steps (src/train/soak.ts), sampling the pool,
// the JS heap after a forced GC and the GPU context's counters every K steps; after the first 5 %
// of the steps each must grow by at most 1 %, and after the run and the model are released the
// pool must hold what it held before the model was loaded. Prints a table, writes the figures
// into RELIABILITY.md (between its soak-figures markers) unless --no-write, and exits 1 on failure.

import { readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { lora } from '../src/adapters/methods/lora';
import { pissa } from '../src/adapters/methods/pissa';
import { qlora } from '../src/adapters/methods/quantized';
import { GpuContext } from '../src/gpu/context';
import { acquireNodeDevice } from '../src/gpu/node';
import { openModelFiles } from '../src/io/modelFiles';
import { nodeDirectorySources } from '../src/io/nodeSource';
import { loadCausalLM } from '../src/models/load';
import { runSoak, soakPassed, type MetricGrowth, type SoakResult } from '../src/train/soak';
import { heapAfterGc, residentBytes } from '../src/train/soakNode';

const FIXTURE = 'test/fixtures/tiny-llama';

function parseOptions(args: readonly string[]): { steps: number; every: number; write: boolean } {
  const options = { steps: 1000, every: 25, write: true };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--no-write') options.write = false;
    else if (arg === '--steps' || arg === '--every') {
      const value = Number(args[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error(`${arg} needs a positive integer`);
      options[arg === '--steps' ? 'steps' : 'every'] = value;
    } else throw new Error(`unknown option ${arg}; usage: npm run soak -- [--steps N] [--every K] [--no-write]`);
  }
  return options;
}

function shown(metric: MetricGrowth['metric'], value: number): string {
  if (metric.endsWith('Bytes')) return value >= 2 ** 20 ? `${(value / 2 ** 20).toFixed(2)} MiB` : `${(value / 1024).toFixed(1)} KiB`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

const LABELS: Record<MetricGrowth['metric'], string> = {
  liveBytes: 'pool live bytes',
  liveBuffers: 'pool live buffers',
  ownedBytes: 'pool owned bytes (live + free)',
  heapBytes: 'JS heap after GC',
  pipelines: 'pipelines compiled (total)',
  buffersCreated: 'GPU buffers created (total)',
  bindGroupsPerStep: 'bind groups per step',
  dispatchesPerStep: 'dispatches per step',
  processBytes: 'process RSS (not judged)',
};

function figures(result: SoakResult, load: string): string {
  const { steps, samples, warmupSteps, tolerance } = result;
  const lines = [
    `Run: \`npm run soak\` on ${new Date().toISOString().slice(0, 10)} (Node ${process.version}, ${process.platform}/${process.arch}, ` +
      `load average at the start ${load}): ${steps} steps of an interleaved ${result.methods.join(' / ')} comparison (rank 4, B = 2, T = 8, ` +
      `validation every ${samples[2] ? samples[2].step - samples[1]!.step : '?'} steps) on ${FIXTURE}; ${samples.length} samples; ` +
      `warm-up ${warmupSteps} steps; allowed growth ${(tolerance * 100).toFixed(0)} %.`,
    '',
    '| metric | after warm-up | highest later | last | growth | |',
    '|---|--:|--:|--:|--:|---|',
    ...result.growth.map(
      (g) =>
        `| ${LABELS[g.metric]} | ${shown(g.metric, g.baseline)} | ${shown(g.metric, g.max)} | ${shown(g.metric, g.last)} | ` +
        `${Number.isFinite(g.growth) ? `${(g.growth * 100).toFixed(2)} %` : '∞'} | ${g.metric === 'processBytes' ? '' : g.ok ? 'flat' : '**GROWS**'} |`,
    ),
    '',
    `After release: pool live ${result.after.liveBytes} bytes in ${result.after.liveBuffers} buffers ` +
      `(before the model was loaded: ${result.before.liveBytes} bytes in ${result.before.liveBuffers}): ${result.leaked ? '**LEAK**' : 'nothing leaked'}. ` +
      `Kept for the context's life after the priming cycle: ${result.contextCaches.liveBytes} bytes in ${result.contextCaches.liveBuffers} buffers. ` +
      `Final train losses ${result.finalLosses.map((l) => l.toFixed(4)).join(' / ')}; wall time ${(result.ms / 1000).toFixed(0)} s.`,
  ];
  return lines.join('\n');
}

const START = '<!-- soak-figures:start -->';
const END = '<!-- soak-figures:end -->';

/** Replaces the soak figures between the markers, or adds a Soak section before "Known limits". */
async function writeReliability(block: string): Promise<string> {
  const path = fileURLToPath(new URL('../RELIABILITY.md', import.meta.url));
  let text = await readFile(path, 'utf8');
  const marked = `${START}\n${block}\n${END}`;
  const at = text.indexOf(START);
  const end = text.indexOf(END);
  if (at >= 0 && end > at) text = text.slice(0, at) + marked + text.slice(end + END.length);
  else {
    const section = `## Soak\n\n${marked}\n\n`;
    const limits = text.indexOf('## Known limits');
    text = limits >= 0 ? text.slice(0, limits) + section + text.slice(limits) : `${text.trimEnd()}\n\n${section}`;
  }
  await writeFile(path, text);
  return path;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
  const ctx = new GpuContext(await acquireNodeDevice());
  try {
    process.stderr.write(`soak: ${options.steps} steps on ${ctx.info.description || ctx.info.device || 'the GPU'}, load ${load}\n`);
    const result = await runSoak(ctx, {
      load: async () => loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(FIXTURE))),
      methods: [lora, pissa, qlora],
      steps: options.steps,
      sampleEvery: options.every,
      heapBytes: heapAfterGc,
      processBytes: residentBytes,
      onSample: (s) =>
        process.stderr.write(
          `  step ${String(s.step).padStart(5)}: live ${shown('liveBytes', s.liveBytes)} in ${s.liveBuffers} buffers, heap ${shown('heapBytes', s.heapBytes)}, ` +
            `pipelines ${s.pipelines}, buffers created ${s.buffersCreated}, bind groups/step ${s.bindGroupsPerStep.toFixed(1)}\n`,
        ),
    });
    const block = figures(result, load);
    console.log(block);
    const passed = soakPassed(result);
    if (options.write) console.log(`\nwrote ${await writeReliability(block)}`);
    console.log(passed ? '\nsoak passed' : '\nsoak FAILED');
    return passed ? 0 : 1;
  } finally {
    ctx.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
