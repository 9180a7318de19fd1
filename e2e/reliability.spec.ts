// Reliability in a real headless Chromium. The page is opened with ?testHooks=1, which lets it ask
// the engine worker to destroy its GPU device (as a driver reset would) or to crash:
//   - the device destroyed mid-run: the curves so far stay, a notice names the loss, the run says
//     it stopped, and a new Start trains on a new device (the model reloaded onto it first);
//   - the worker crashed: the page says so and keeps the curves and the results table; "Restart
//     engine" starts a new worker, reloads the model and data, and training works again;
//   - the worker hung mid-run (a test hook spins its thread; the page is opened with a 6 s
//     heartbeat bound, ?hangTimeoutMs=6000, instead of 20 s): the page says the engine stopped
//     responding, keeps the curves, and "Restart engine and resume" terminates it, starts a new
//     one and continues the run from its last checkpoint to the end;
//   - a long run of three methods holds the engine's pool (live bytes, buffers, owned bytes), the
//     GPU buffers it has created and its compiled pipelines flat after warm-up (growth ≤ 1 %),
//     read through the protocol between steps. 300 steps take about 3 minutes on SwiftShader even on
//     a quiet machine, so CI (CI set) runs 60; RELIABILITY_STEPS sets any length.
// Only the q and v projections are adapted, B 1, T 64, so a step takes well under a second on
// SwiftShader.

import type { Page } from '@playwright/test';
import { chooseMethods, expect, keepScreenshot, setNumber, test } from './helpers';

interface PoolSample {
  readonly liveBytes: number;
  readonly liveBuffers: number;
  readonly ownedBytes: number;
  readonly buffersCreated: number;
  readonly pipelines: number;
  readonly shaderModules: number;
  readonly device: number;
  readonly step: number | null;
}

/** The page's window.__adapterStudioTestHooks (state/engineStore.ts), present with ?testHooks=1. */
interface HookWindow {
  readonly __adapterStudioTestHooks: {
    loseDevice(): Promise<boolean>;
    crashWorker(): Promise<boolean>;
    hangWorker(ms?: number): Promise<boolean>;
    poolStats(): Promise<PoolSample | null>;
  };
}

const loseDevice = (page: Page) => page.evaluate(() => (window as unknown as HookWindow).__adapterStudioTestHooks.loseDevice());
const crashWorker = (page: Page) => page.evaluate(() => (window as unknown as HookWindow).__adapterStudioTestHooks.crashWorker());
const hangWorker = (page: Page) => page.evaluate(() => (window as unknown as HookWindow).__adapterStudioTestHooks.hangWorker(120_000));
const poolStats = (page: Page) => page.evaluate(() => (window as unknown as HookWindow).__adapterStudioTestHooks.poolStats());

async function openWithHooks(page: Page, steps: number, evalEvery: number, query = ''): Promise<void> {
  await page.goto(`/?testHooks=1${query}`);
  await expect(page.getByTestId('model-card')).toContainText('kjv-llama-1m', { timeout: 120_000 });
  await expect(page.getByTestId('data-preview')).toBeVisible({ timeout: 120_000 });
  const targets = page.getByTestId('training-settings').locator('fieldset.targets');
  for (const role of ['k', 'o', 'gate', 'up', 'down']) await targets.getByLabel(role, { exact: true }).uncheck();
  await setNumber(page, 'Steps', steps);
  await setNumber(page, 'Batch B', 1);
  await setNumber(page, 'Sequence length T', 64);
  await setNumber(page, 'Validate every', evalEvery);
  await setNumber(page, 'Validation rows', 2);
  await setNumber(page, 'Accuracy questions', 0);
}

/** The number of loss points the chart has for one method (its data-points attribute: "id:n,..."). */
async function lossPoints(page: Page, id: string): Promise<number> {
  const attr = (await page.getByTestId('chart-loss').getAttribute('data-points')) ?? '';
  const entry = attr.split(',').find((e) => e.startsWith(`${id}:`));
  return entry ? Number(entry.slice(id.length + 1)) : 0;
}

test('a GPU device lost mid-run keeps the curves, says so, and the next Start trains on a new device', async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openWithHooks(page, 40, 100);
  await chooseMethods(page, ['LoRA']);
  await page.getByRole('button', { name: /^Start \(1 method\)/ }).click();
  const state = page.getByTestId('run-state');
  // The run state can skip steps between two polls under load: any step from 3 to 29 will do.
  await expect(state).toContainText(/Training · step ([3-9]|[12]\d)\/40/, { timeout: 120_000 });
  expect(await loseDevice(page)).toBe(true);

  await expect(state).toContainText('Stopped', { timeout: 60_000 });
  await expect(page.getByTestId('run-error')).toContainText('Training stopped after step');
  await expect(page.getByTestId('run-error')).toContainText('the GPU device was lost (destroyed');
  const notice = page.getByTestId('engine-notice');
  await expect(notice).toHaveAttribute('data-kind', 'device');
  await expect(notice).toContainText('The GPU device was lost');
  await expect(notice).toContainText('gets a new device and reloads the model');
  // The curve so far stays: as many points as steps were reported, and the results table keeps the row.
  const kept = await lossPoints(page, 'lora');
  expect(kept).toBeGreaterThanOrEqual(3);
  expect(kept).toBeLessThan(40);
  await expect(page.getByTestId('result-lora').locator('td').nth(1)).toHaveText(String(kept));
  await keepScreenshot(page, testInfo, 'reliability-device-lost', { fullPage: false });

  // A new Start: a new device, the model reloaded onto it (said in the notice), then training.
  await setNumber(page, 'Steps', 3);
  await page.getByRole('button', { name: /^Start again \(1 method\)/ }).click();
  await expect(page.getByTestId('engine-notice-outcome')).toContainText('kjv-llama-1m (built-in) was reloaded onto the new GPU device', { timeout: 120_000 });
  await expect(state).toContainText('Done', { timeout: 120_000 });
  await expect(page.getByTestId('run-error')).toHaveCount(0);
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:3');
  expect((await poolStats(page))?.device).toBe(2);
  expect(errors).toEqual([]);
});

test('a crashed engine worker: the page keeps what it shows, "Restart engine" brings the engine back, and training works', async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openWithHooks(page, 3, 100);
  await chooseMethods(page, ['LoRA', 'PiSSA']);
  await page.getByRole('button', { name: /^Start \(2 methods\)/ }).click();
  const state = page.getByTestId('run-state');
  await expect(state).toContainText('Done', { timeout: 120_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:3,pissa:3');

  expect(await crashWorker(page)).toBe(true);
  const notice = page.getByTestId('engine-notice');
  await expect(notice).toHaveAttribute('data-kind', 'crashed');
  await expect(notice).toContainText('The engine worker stopped');
  await expect(notice).toContainText('Everything shown is kept');
  // Curves, results and the run's state are all still shown.
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:3,pissa:3');
  await expect(page.getByTestId('results-table').locator('tbody tr')).toHaveCount(2);
  await expect(state).toContainText('Done');
  await keepScreenshot(page, testInfo, 'reliability-worker-crashed', { fullPage: false });

  await notice.getByRole('button', { name: 'Restart engine', exact: true }).click();
  await expect(page.getByTestId('engine-notice-outcome')).toContainText('The engine was restarted and its model and data reloaded', { timeout: 120_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:3,pissa:3');
  await page.getByRole('button', { name: /^Start again \(2 methods\)/ }).click();
  await expect(state).toContainText('Done', { timeout: 120_000 });
  await expect(page.getByTestId('results-table').locator('tbody tr')).toHaveCount(2);
  expect((await poolStats(page))?.device).toBe(1);
  expect(errors).toEqual([]);
});

test('a hung engine worker: the page says it stopped responding, keeps the curves, and restarts it to resume from the last checkpoint', async ({
  page,
}, testInfo) => {
  test.setTimeout(300_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openWithHooks(page, 20, 100, '&hangTimeoutMs=6000');
  await setNumber(page, 'Checkpoint every N steps', 3);
  await chooseMethods(page, ['LoRA']);
  await page.getByRole('button', { name: /^Start \(1 method\)/ }).click();
  const state = page.getByTestId('run-state');
  await expect(state).toContainText(/Training · step ([4-9]|1[0-5])\/20/, { timeout: 120_000 });
  const notice = page.getByTestId('engine-notice');
  // Training for a while with a 6 s bound raised no notice: the worker answers pings mid-run.
  await expect(notice).toHaveCount(0);
  expect(await hangWorker(page)).toBe(true);
  const hungAt = Date.now();

  await expect(notice).toHaveAttribute('data-kind', 'hung', { timeout: 30_000 });
  console.log(`hang noticed after ${((Date.now() - hungAt) / 1000).toFixed(1)} s (bound 6 s)`);
  await expect(notice).toContainText('The engine stopped responding: no answer for');
  await expect(notice).toContainText('Everything shown is kept');
  const kept = await lossPoints(page, 'lora');
  expect(kept).toBeGreaterThanOrEqual(4);
  await expect(page.getByTestId('results-table').locator('tbody tr')).toHaveCount(1);
  await expect(notice.getByRole('button', { name: 'Restart engine', exact: true })).toBeVisible();
  const restartResume = notice.getByTestId('notice-restart-resume');
  await expect(restartResume).toContainText('Restart engine and resume from the last checkpoint (step');
  const from = Number(/step (\d+)/.exec((await restartResume.textContent()) ?? '')?.[1]);
  expect(from % 3).toBe(0);
  expect(from).toBeLessThanOrEqual(kept);
  await notice.scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'reliability-worker-hung', { fullPage: false });

  await restartResume.click();
  await expect(state).toContainText('Done', { timeout: 180_000 });
  await expect(page.getByTestId('run-error')).toHaveCount(0);
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:20');
  await expect(notice).toHaveCount(0);
  expect((await poolStats(page))?.device).toBe(1);
  expect(errors).toEqual([]);
});

test('a long three-method run holds the engine pool, buffers and pipelines flat after warm-up', async ({ page }) => {
  const steps = Number(process.env.RELIABILITY_STEPS ?? (process.env.CI ? 60 : 300));
  const evalEvery = Math.max(5, Math.floor(steps / 10));
  // Warm-up: the first fifth of the steps, and at least two validations.
  const warmup = Math.max(Math.floor(steps / 5), 2 * evalEvery);
  test.setTimeout(120_000 + steps * 2_000);
  await openWithHooks(page, steps, evalEvery);
  await chooseMethods(page, ['LoRA', 'PiSSA', 'DoRA']);
  await page.getByRole('button', { name: /^Start \(3 methods\)/ }).click();
  const state = page.getByTestId('run-state');
  const samples: PoolSample[] = [];
  const started = Date.now();
  while (!/Done|Stopped|Failed/.test((await state.textContent()) ?? '')) {
    const sample = await poolStats(page);
    if (sample?.step !== null && sample?.step !== undefined) samples.push(sample);
    await page.waitForTimeout(1_000);
  }
  const seconds = (Date.now() - started) / 1000;
  await expect(state).toContainText('Done');
  // The training loop (its validations and samples included); the end-of-run work (accuracy, the
  // final checkpoint) happens once, after the last step.
  const after = samples.filter((s) => s.step! >= warmup && s.step! < steps);
  expect(after.length, `samples after step ${warmup}`).toBeGreaterThanOrEqual(3);
  const baseline = after[0]!;
  const growth = (key: keyof PoolSample) => (Math.max(...after.map((s) => Number(s[key]))) - Number(baseline[key])) / Number(baseline[key]);
  const report = Object.fromEntries((['liveBytes', 'liveBuffers', 'ownedBytes', 'buffersCreated', 'pipelines'] as const).map((k) => [k, growth(k)]));
  console.log(`reliability soak: ${steps} steps × 3 methods in ${seconds.toFixed(0)} s, ${samples.length} samples; growth after step ${warmup}:`, report);
  for (const [key, value] of Object.entries(report)) expect(value, key).toBeLessThanOrEqual(0.01);
});
