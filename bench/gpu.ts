// `npm run bench:gpu`: one command for a machine with a real GPU. It runs the matmul table, the
// training-step table and the profiler twice over:
//   (a) browser: the built studio (`vite build` when dist/ is missing or --build; then
//       `vite preview`) in headless Chromium driven by Playwright, through the studio's own
//       Benchmark tab (matmul table, then "Profile a training step" on the built-in model, whose
//       steady-state steps are the browser's training-step table), read back from the page;
//   (b) node: the same code in Node on Dawn (the `webgpu` package), in this process.
// On a hardware adapter the Node part first runs the matmul autotuner on the training products
// (src/kernels/matmulTuning.ts) and reports its table; the training table then uses the picks.
// It writes one JSON file (GPU name, adapter info per host, FP32 peak from a small table of common
// GPUs or --peak-tflops, % of peak for the best matmul) and prints a summary. On a machine without
// a GPU both hosts get SwiftShader; the run then uses small shapes and says it found a software
// adapter.
//
//   npm run bench:gpu                                  both hosts, JSON to $OUT/bench-gpu.json ($OUT unset: the OS temp folder)
//   npm run bench:gpu -- --out results.json --peak-tflops 67
//   npm run bench:gpu -- --no-browser | --no-node      one host only
//   npm run bench:gpu -- --build                       rebuild dist/ first
//   npm run bench:gpu -- --quick                       software-sized run on any adapter
//   CHROMIUM_PATH=/path/to/chrome npm run bench:gpu     another Chromium (default /usr/bin/chromium)
//   CHROMIUM_CHANNEL=chrome npm run bench:gpu           an installed Google Chrome
//   BENCH_GPU_FLAGS="--use-angle=vulkan ..." npm run bench:gpu   replace the GPU flag sets tried

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import type { Browser, Page } from '@playwright/test';
import { GpuContext } from '../src/gpu/context';
import { acquireNodeDevice } from '../src/gpu/node';
import { DEFAULT_BENCH_SHAPES, runMatmulBench, squareShape, type MatmulBenchShape } from '../src/bench/matmulBench';
import { runTrainingProfile } from '../src/bench/profile';
import { lora } from '../src/adapters/methods/lora';
import { full } from '../src/adapters/methods/full';
import { openModelFiles } from '../src/io/modelFiles';
import { nodeDirectorySources } from '../src/io/nodeSource';
import { loadCausalLM, releaseModel } from '../src/models/load';
import { DEFAULT_TRAIN_METHODS, formatTrainTable, runTrainBench } from './train';
import { formatProfileReport } from '../src/bench/profile';
import { modelTrainingProblems, tuneMatmul, type TunedClass } from '../src/kernels/matmulTuning';
import type { MethodId } from '../src/adapters/types';

const BROWSER_FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/**
 * GPU flag sets tried in order until the page's adapter is a hardware one (Linux: Chromium's
 * WebGPU wants Vulkan; headless Chromium otherwise often falls back to SwiftShader). The last set
 * is plain --enable-unsafe-webgpu, which always gives some adapter.
 */
export const GPU_FLAG_SETS: readonly (readonly string[])[] = [
  ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=vulkan', '--use-vulkan=native', '--ignore-gpu-blocklist'],
  ['--enable-unsafe-webgpu', '--enable-features=Vulkan,VulkanFromANGLE', '--use-angle=vulkan', '--ignore-gpu-blocklist', '--disable-vulkan-surface'],
  ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--ignore-gpu-blocklist', '--use-webgpu-adapter=default'],
  ['--enable-unsafe-webgpu'],
];

/** FP32 (non-tensor) peak TFLOP/s of common GPUs, matched against the adapter's name (first match wins). */
export const FP32_PEAK_TFLOPS: readonly (readonly [RegExp, number, string])[] = [
  [/H200/i, 67, 'NVIDIA H200 (SXM)'],
  [/H100.*PCIe/i, 51, 'NVIDIA H100 PCIe'],
  [/H100/i, 67, 'NVIDIA H100 SXM'],
  [/A100/i, 19.5, 'NVIDIA A100'],
  [/L40S/i, 91.6, 'NVIDIA L40S'],
  [/L4\b/i, 30.3, 'NVIDIA L4'],
  [/A10G/i, 31.2, 'NVIDIA A10G'],
  [/A10\b/i, 31.2, 'NVIDIA A10'],
  [/T4\b/i, 8.1, 'NVIDIA T4'],
  [/V100/i, 15.7, 'NVIDIA V100'],
  [/RTX 4090/i, 82.6, 'NVIDIA RTX 4090'],
  [/RTX 4080/i, 48.7, 'NVIDIA RTX 4080'],
  [/RTX 3090/i, 35.6, 'NVIDIA RTX 3090'],
  [/RTX 3080/i, 29.8, 'NVIDIA RTX 3080'],
  [/RTX A6000/i, 38.7, 'NVIDIA RTX A6000'],
  [/MI300X/i, 163.4, 'AMD Instinct MI300X'],
  [/RX 7900 XTX/i, 61.4, 'AMD Radeon RX 7900 XTX'],
  [/M2 Max/i, 13.6, 'Apple M2 Max (38-core GPU)'],
  [/M1 Max/i, 10.4, 'Apple M1 Max'],
];

interface Args {
  out: string;
  peakTflops?: number;
  browser: boolean;
  node: boolean;
  build: boolean;
  quick: boolean;
  port: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { out: join(process.env.OUT ?? tmpdir(), 'bench-gpu.json'), browser: true, node: true, build: false, quick: false, port: 4179 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--out' || flag === '--json') args.out = value();
    else if (flag === '--peak-tflops') args.peakTflops = Number(value());
    else if (flag === '--no-browser') args.browser = false;
    else if (flag === '--no-node') args.node = false;
    else if (flag === '--build') args.build = true;
    else if (flag === '--quick') args.quick = true;
    else if (flag === '--port') args.port = Number(value());
    else throw new Error(`unknown option "${flag}" (see bench/gpu.ts)`);
  }
  return args;
}

/** The GPU's name from nvidia-smi when there is one (neither Chromium nor Dawn always says it). */
function systemGpuName(): string | null {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 }).split('\n')[0]!.trim() || null;
  } catch {
    return null;
  }
}

export function peakFor(names: readonly string[]): { tflops: number; gpu: string } | null {
  for (const [pattern, tflops, gpu] of FP32_PEAK_TFLOPS) if (names.some((n) => pattern.test(n))) return { tflops, gpu };
  return null;
}

function log(text: string): void {
  console.log(`[bench:gpu] ${text}`);
}

// ---------------------------------------------------------------- node (Dawn)

async function runNode(software: { quick: boolean }): Promise<Record<string, unknown>> {
  const ctx = new GpuContext(await acquireNodeDevice());
  const info = ctx.info;
  const quick = software.quick || info.isSoftware;
  log(
    `node: adapter ${[info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ')}${info.isSoftware ? ' (SOFTWARE adapter)' : ''}`,
  );
  try {
    const shapes: readonly MatmulBenchShape[] = quick ? [squareShape(256)] : DEFAULT_BENCH_SHAPES;
    const matmul = await runMatmulBench(ctx, {
      shapes,
      includePeer: false,
      onRow: (r) => log(`node matmul ${r.shape.label} [${r.variant}]: ${r.oursGflops.toFixed(2)} GFLOP/s`),
    });
    // Hardware adapters: tune the matmul variants for the training products first, so the
    // training table and the profile below run with the tuned choices (software keeps its rule).
    let tuning: TunedClass[] = [];
    if (!info.isSoftware) {
      const tuneModel = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources('public/models/kjv-llama-1m')));
      const problems = modelTrainingProblems(tuneModel, 4 * 64);
      releaseModel(ctx, tuneModel);
      tuning = await tuneMatmul(ctx, problems, { reps: 5 });
      for (const t of tuning)
        log(
          `node tune ${t.shapeClass}: ${t.variant} (${Object.entries(t.msByVariant)
            .map(([v, ms]) => `${v} ${ms.toFixed(3)} ms`)
            .join(', ')})`,
        );
    }
    const trainOptions = quick
      ? { methods: [lora.id] as MethodId[], steps: 1, batchSize: 1, seqLen: 32 }
      : { methods: DEFAULT_TRAIN_METHODS, steps: 5, batchSize: 4, seqLen: 64 };
    const train = await runTrainBench(ctx, { ...trainOptions, modelDir: 'public/models/kjv-llama-1m' }, (r) =>
      log(`node train ${r.method}: ${r.tokensPerSecond.toFixed(1)} tokens/s`),
    );
    console.log(formatTrainTable(train));
    const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources('public/models/kjv-llama-1m')));
    let profile;
    try {
      profile = await runTrainingProfile(
        ctx,
        model,
        'kjv-llama-1m',
        quick
          ? { methods: [lora.id], steps: 1, warmup: 1, batchSize: 1, seqLen: 32 }
          : { methods: [lora.id, full.id], steps: 3, warmup: 2, batchSize: 4, seqLen: 64 },
      );
    } finally {
      releaseModel(ctx, model);
    }
    console.log(formatProfileReport(profile));
    return { adapter: info, software: info.isSoftware, quick, matmul, tuning, train, profile };
  } finally {
    ctx.destroy();
  }
}

// ---------------------------------------------------------------- browser (Chromium + Playwright)

async function waitForServer(url: string, child: ChildProcess, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`vite preview exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`vite preview did not answer at ${url} within ${seconds} s`);
}

interface PageAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

async function pageAdapter(page: Page): Promise<PageAdapter | null> {
  return page.evaluate(async () => {
    const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
    if (!gpu) return null;
    const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!a) return null;
    const i = a.info;
    return {
      vendor: i.vendor,
      architecture: i.architecture,
      device: i.device,
      description: i.description,
      isFallbackAdapter: (i as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
      features: [...a.features].sort(),
      maxBufferSize: a.limits.maxBufferSize,
      maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
    };
  });
}

function isSoftwareAdapter(a: PageAdapter): boolean {
  return a.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|software/i.test(`${a.architecture} ${a.device} ${a.description} ${a.vendor}`);
}

async function runBrowser(args: Args): Promise<Record<string, unknown>> {
  if (args.build || !existsSync('dist/index.html')) {
    log('browser: vite build …');
    execFileSync('npx', ['vite', 'build'], { stdio: 'inherit' });
  }
  const url = `http://127.0.0.1:${args.port}`;
  const server = spawn('npx', ['vite', 'preview', '--host', '127.0.0.1', '--port', String(args.port), '--strictPort'], { stdio: 'ignore', detached: true });
  let browser: Browser | undefined;
  try {
    await waitForServer(url, server, 60);
    const channel = process.env.CHROMIUM_CHANNEL;
    const executablePath = channel ? undefined : (process.env.CHROMIUM_PATH ?? '/usr/bin/chromium');
    const sets = process.env.BENCH_GPU_FLAGS ? [process.env.BENCH_GPU_FLAGS.split(/\s+/).filter(Boolean)] : GPU_FLAG_SETS;
    // Loaded here, not at the top: the device pack's bundle (scripts/device/bundle.mjs) runs the Node half without node_modules.
    const { chromium } = await import('@playwright/test');
    const tried: { flags: readonly string[]; adapter: PageAdapter | null; error?: string }[] = [];
    let page: Page | undefined;
    let adapter: PageAdapter | null = null;
    let flags: readonly string[] = [];
    for (const set of sets) {
      const b = await chromium.launch({ executablePath, channel, headless: true, args: [...set, ...BROWSER_FLAGS] });
      try {
        const p = await b.newPage({ viewport: { width: 1280, height: 900 } });
        await p.goto(url);
        const a = await pageAdapter(p);
        tried.push({ flags: set, adapter: a });
        log(
          `browser flags ${set.join(' ')}: ${a ? `${a.vendor} / ${a.architecture} / ${a.description || a.device}${isSoftwareAdapter(a) ? ' (software)' : ''}` : 'no adapter'}`,
        );
        if (a && (!isSoftwareAdapter(a) || set === sets[sets.length - 1])) {
          browser = b;
          page = p;
          adapter = a;
          flags = set;
          break;
        }
      } catch (error) {
        tried.push({ flags: set, adapter: null, error: (error as Error).message });
        log(`browser flags ${set.join(' ')}: failed (${(error as Error).message.split('\n')[0]})`);
      }
      await b.close();
    }
    if (!page || !adapter) return { error: 'no WebGPU adapter in Chromium with any flag set', tried };
    const software = isSoftwareAdapter(adapter);
    const quick = args.quick || software;
    const browserVersion = browser!.version();
    log(`browser: Chromium ${browserVersion}, ${software ? 'SOFTWARE adapter' : 'hardware adapter'} with ${flags.join(' ')}`);

    // The built-in model loads on its own on the Studio tab (the profile needs it).
    await page.getByTestId('gpu-adapter').waitFor({ timeout: 120_000 });
    await page.getByTestId('model-card').filter({ hasText: 'kjv-llama-1m' }).waitFor({ timeout: 300_000 });
    // Matmul table, through the Benchmark tab.
    await page.getByRole('tab', { name: 'Benchmark' }).click();
    const labels = quick ? [squareShape(256).label] : DEFAULT_BENCH_SHAPES.map((s) => s.label);
    for (const label of labels) {
      const box = page.getByLabel(label, { exact: true });
      if ((await box.count()) > 0) await box.check();
    }
    await page.getByLabel('Also time tfjs-backend-webgpu (the peer)').uncheck();
    await page.getByRole('button', { name: /^Run benchmark/ }).click();
    await page.getByTestId('bench-table').waitFor({ timeout: 600_000 });
    await page.getByRole('button', { name: /^Run benchmark/ }).waitFor({ state: 'visible', timeout: 600_000 });
    await page.waitForFunction(() => ![...document.querySelectorAll('button')].some((b) => /^Running…/.test(b.textContent ?? '')), undefined, {
      timeout: 1_800_000,
    });
    const failed = await page.getByText(/^Benchmark failed/).count();
    const matmul = await page
      .getByTestId('bench-table')
      .locator('tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => {
          const td = [...tr.querySelectorAll('td')].map((c) => c.textContent ?? '');
          return { shape: td[0], variant: td[1], oursGflops: Number(td[2]) };
        }),
      );
    for (const r of matmul) log(`browser matmul ${r.shape} [${r.variant}]: ${r.oursGflops.toFixed(2)} GFLOP/s`);

    // Profile (and its steady-state steps as the training-step table) on the built-in model.
    const setNumber = async (id: string, value: number) => {
      const input = page!.locator(`#${id}`);
      await input.fill(String(value));
      await input.blur();
    };
    if (quick) {
      await setNumber('profile-batch', 1);
      await setNumber('profile-seq', 32);
      await setNumber('profile-steps', 1);
    }
    await page.getByTestId('profile-run').click();
    await page.getByTestId('profile-report').waitFor({ timeout: 1_800_000 });
    const profile = await page.getByTestId('profile-report').evaluate((el) => ({
      header: el.querySelector('p')?.textContent ?? '',
      methods: [...el.querySelectorAll('[data-testid^="profile-method-"]')].map((m) => ({
        method: m.getAttribute('data-testid')!.replace('profile-method-', ''),
        title: m.querySelector('h3')?.textContent ?? '',
        summary: m.querySelector('p')?.textContent ?? '',
        kernels: [...m.querySelectorAll('[data-testid="profile-kernels"] tbody tr')].map((tr) =>
          [...tr.querySelectorAll('td')].map((c) => c.textContent ?? ''),
        ),
      })),
    }));
    const batch = quick ? 1 : 4;
    const seqLen = quick ? 32 : 64;
    const train = profile.methods.map((m) => {
      const wall = /wall ([\d.]+) ms/.exec(m.summary);
      const msPerStep = wall ? Number(wall[1]) : null;
      return { method: m.method, msPerStep, tokensPerSecond: msPerStep ? (batch * seqLen * 1000) / msPerStep : null };
    });
    for (const t of train) log(`browser train ${t.method}: ${t.msPerStep?.toFixed(1) ?? '—'} ms/step, ${t.tokensPerSecond?.toFixed(1) ?? '—'} tokens/s`);
    return { chromium: browserVersion, flags, tried, adapter, software, quick, matmulFailed: failed > 0, matmul, train, batch, seqLen, profile };
  } finally {
    await browser?.close();
    if (server.pid) {
      try {
        process.kill(-server.pid); // the preview server's own process group (detached above)
      } catch {
        // already gone
      }
    }
  }
}

// ---------------------------------------------------------------- main

function best(rows: unknown): number | null {
  if (!Array.isArray(rows) || rows.length === 0) return null;
  return Math.max(...rows.map((r: { oursGflops?: number }) => r.oursGflops ?? 0));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadBefore = loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
  const systemName = systemGpuName();
  log(`load average ${loadBefore}; nvidia-smi: ${systemName ?? 'none'}`);
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    host: { node: process.version, platform: process.platform, arch: process.arch },
    loadBefore,
    systemGpu: systemName,
  };
  const hosts: Record<string, Record<string, unknown>> = {};
  if (args.browser) {
    try {
      hosts.browser = await runBrowser(args);
    } catch (error) {
      hosts.browser = { error: (error as Error).stack ?? String(error) };
      log(`browser: FAILED ${(error as Error).message}`);
    }
  }
  if (args.node) {
    try {
      hosts.node = await runNode({ quick: args.quick });
    } catch (error) {
      hosts.node = { error: (error as Error).stack ?? String(error) };
      log(`node: FAILED ${(error as Error).message}`);
    }
  }
  const names = [
    systemName ?? '',
    ...Object.values(hosts).map((h) => {
      const a = h.adapter as { description?: string; device?: string; vendor?: string; architecture?: string } | undefined;
      return a ? `${a.description ?? ''} ${a.device ?? ''}`.trim() || `${a.vendor ?? ''} ${a.architecture ?? ''}`.trim() : '';
    }),
  ].filter(Boolean);
  const known = peakFor(names);
  const peakTflops = args.peakTflops ?? known?.tflops ?? null;
  const software = Object.values(hosts).some((h) => h.software === true);
  report.gpu = systemName ?? known?.gpu ?? (names[0] || 'unknown');
  report.fp32PeakTflops = peakTflops;
  report.fp32PeakSource = args.peakTflops !== undefined ? '--peak-tflops' : known ? `table (${known.gpu})` : 'unknown: pass --peak-tflops';
  report.software = software;
  const summary: string[] = [];
  for (const [host, h] of Object.entries(hosts)) {
    if (h.error) {
      summary.push(`${host}: failed: ${String(h.error).split('\n')[0]}`);
      continue;
    }
    const gflops = best(h.matmul);
    const pct = gflops !== null && peakTflops ? (100 * gflops) / (1000 * peakTflops) : null;
    h.bestMatmulGflops = gflops;
    h.percentOfPeak = pct;
    const a = h.adapter as { vendor?: string; architecture?: string; description?: string; device?: string };
    const train = (h.train as { method: string; tokensPerSecond: number | null }[])
      .map((t) => `${t.method} ${t.tokensPerSecond?.toFixed(0) ?? '—'} tok/s`)
      .join(', ');
    summary.push(
      `${host}: ${[a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' / ')}${h.software ? ' — SOFTWARE adapter (no GPU used)' : ''}; ` +
        `best matmul ${gflops?.toFixed(2) ?? '—'} GFLOP/s${pct !== null ? ` = ${pct.toFixed(1)} % of ${peakTflops} TFLOP/s FP32` : ''}; training ${train}`,
    );
  }
  report.hosts = hosts;
  report.seconds = (Date.now() - started) / 1000;
  report.loadAfter = loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n=== bench:gpu summary (${report.seconds} s) ===`);
  console.log(`GPU: ${String(report.gpu)}; FP32 peak ${peakTflops ?? '?'} TFLOP/s (${String(report.fp32PeakSource)})`);
  if (software) console.log('NOTE: a software adapter (SwiftShader) was found: these figures are CPU emulation, not a GPU.');
  for (const line of summary) console.log(line);
  console.log(`wrote ${args.out}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
