// The method diagnostics in a real headless Chromium: QLoRA + QPiSSA (2 iterations, rank 4) fill
// the quantization-error chart and the reduction-ratio table during init; SORSA + SPP show their
// orthonormality deviation and a sparsity exactly at the pruned ratio; a spectrum before/after
// for one layer; a method added mid-way; the results scatter plot. Only the q and v projections
// are adapted and runs are 2 steps, so each run takes well under a minute on SwiftShader.

import type { Page } from '@playwright/test';
import { chooseMethods, expect, keepScreenshot, openStudio, setNumber, test } from './helpers';

/**
 * Round ticks, never data-derived values such as 74752: at multiples of a 1-2-5 step, or (log axes
 * over a wide range) at 1…9 × 10^k.
 */
function expectRoundTicks(attr: string | null, log: boolean): void {
  const ticks = (attr ?? '').split(',').map(Number);
  expect(ticks.length).toBeGreaterThanOrEqual(2);
  expect(new Set(ticks).size).toBe(ticks.length);
  const mantissa = (v: number) => Math.abs(v) / 10 ** Math.floor(Math.log10(Math.abs(v)));
  if (log && ticks.every((t) => Math.abs(mantissa(t) - Math.round(mantissa(t))) < 1e-6)) return;
  const step = ticks[1]! - ticks[0]!;
  expect([1, 2, 5].some((r) => Math.abs(mantissa(step) - r) < 1e-6)).toBe(true);
  for (const t of ticks) expect(Math.abs(t / step - Math.round(t / step))).toBeLessThan(1e-6);
}

async function openWithTinySettings(page: Page): Promise<void> {
  await openStudio(page);
  const targets = page.getByTestId('training-settings').locator('fieldset.targets');
  for (const role of ['k', 'o', 'gate', 'up', 'down']) await targets.getByLabel(role, { exact: true }).uncheck();
  await setNumber(page, 'Steps', 2);
  await setNumber(page, 'Batch B', 2);
  await setNumber(page, 'Sequence length T', 64);
  await setNumber(page, 'Validate every', 2);
  await setNumber(page, 'Validation rows', 2);
  await setNumber(page, 'Accuracy questions', 1);
}

test('QLoRA vs QPiSSA quantization error fills in live with a reduction ratio per layer type', async ({ page }, testInfo) => {
  test.setTimeout(150_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openWithTinySettings(page);
  await chooseMethods(page, ['QLoRA', 'QPiSSA']);
  // Both keep a 4-bit base of their own: the run loads the model again with deferred projections, and the plan says so.
  await expect(page.getByTestId('memory-plan-note')).toContainText('loads the model again without its original projection weights');
  await page.getByTestId('memory-plan').screenshot({ path: 'test-results/screens/diagnostics-deferred-plan.png' });
  const qpissa = page.locator('li.method', { has: page.locator('#method-qpissa') });
  await qpissa.getByLabel('Rank r', { exact: true }).fill('4');
  await qpissa.getByLabel('Rank r', { exact: true }).blur();
  await qpissa.getByLabel('Iterations T', { exact: true }).fill('2');
  await qpissa.getByLabel('Iterations T', { exact: true }).blur();

  await page.getByRole('button', { name: /^Start/ }).click();
  const chart = page.getByTestId('chart-quant');
  // Live: QLoRA's points arrive as they are measured, between the training steps.
  await expect(chart).toHaveAttribute('data-points', /qlora:0:\d/, { timeout: 90_000 });
  await expect(chart).toHaveAttribute('data-points', 'qlora:0:8,qpissa:1:8,qpissa:2:8', { timeout: 90_000 });
  await expect(chart.locator('.recharts-line')).toHaveCount(3);
  const ratio = page.getByTestId('quant-ratio');
  await expect(ratio.locator('thead')).toContainText('q');
  await expect(ratio.locator('thead')).toContainText('v');
  for (const t of [1, 2]) await expect(page.getByTestId(`quant-ratio-qpissa-${t}`)).toContainText(/-?\d+\.\d %/);
  await expect(page.getByTestId('run-state')).toContainText('Done', { timeout: 90_000 });
  await page.getByTestId('quant-panel').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'diagnostics-quant', { fullPage: false });
  expect(errors).toEqual([]);
});

test('SORSA orthonormality and SPP sparsity are charted; a spectrum, a method added mid-way, the scatter plot', async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // React's duplicate-key errors (the scatter's log axis once logged >1,200 of them) and any other console error.
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await openWithTinySettings(page);
  // Four steps: a pause clicked while step 2 runs still lands before the last one.
  await setNumber(page, 'Steps', 4);
  // Without clipping no gradient norm is measured: the chart says why instead of staying blank.
  await setNumber(page, 'Gradient clip', 0);
  await chooseMethods(page, ['SORSA', 'SPP']);
  const spp = page.locator('li.method', { has: page.locator('#method-spp') });
  await spp.getByLabel('Pruning method', { exact: true }).selectOption('magnitude');

  await page.getByRole('button', { name: /^Start/ }).click();
  const state = page.getByTestId('run-state');
  await expect(state).toContainText(/Training · step [12]\/4/, { timeout: 120_000 });
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(state).toContainText('Paused', { timeout: 60_000 });
  // Add LoRA while paused: it initialises at once and trains from the next step.
  await page.getByLabel('Method to add').selectOption('lora');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByTestId('add-method')).toContainText(/LoRA joined after step [123]/, { timeout: 60_000 });
  await expect(state).toContainText('Paused');
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(state).toContainText('Done', { timeout: 120_000 });

  await expect(page.getByTestId('chart-ortho')).toHaveAttribute('data-points', /sorsa:[45]/);
  await expect(page.getByTestId('ortho-value')).toContainText(/deviation \d\.\d+e[-+]\d+ at step 4/);
  const sparsity = page.getByTestId('sparsity-value');
  await expect(sparsity).toHaveAttribute('data-kept', 'true');
  const fraction = Number(await sparsity.getAttribute('data-fraction'));
  const expected = Number(await sparsity.getAttribute('data-expected'));
  expect(Math.abs(fraction - expected)).toBeLessThan(1e-9);
  await expect(sparsity).toContainText('50.00 % exact zeros');
  const loss = page.getByTestId('chart-loss');
  await expect(loss).toHaveAttribute('data-points', /lora:[123],sorsa:4,spp:4|sorsa:4,spp:4,lora:[123]/);
  await expect(page.getByTestId('chart-lr')).toHaveAttribute('data-points', /sorsa:4/);
  await expect(page.getByTestId('chart-grad')).toContainText('Gradient norms are measured only with clipping on');
  // Learning-rate labels fit their axis (5e-4, not a clipped "000504"); ticks are round.
  expectRoundTicks(await page.getByTestId('chart-lr').getAttribute('data-y-ticks'), false);
  for (const label of await page.getByTestId('chart-lr').locator('.recharts-yAxis .recharts-cartesian-axis-tick-value').allTextContents())
    expect(label).toMatch(/^(0|\d(\.\d+)?e-\d|0\.\d+)$/);
  expectRoundTicks(await page.getByTestId('chart-loss').getAttribute('data-x-ticks'), false);
  await expect(page.getByTestId('chart-memory')).toHaveAttribute('data-points', /pool:4/);

  // Spectrum of SORSA's first q projection: at init and now.
  const spectrum = page.getByTestId('spectrum-panel');
  await spectrum.getByLabel('Method', { exact: true }).selectOption('sorsa');
  await spectrum.getByRole('button', { name: 'Compute' }).click();
  await expect(page.getByTestId('chart-spectrum')).toHaveAttribute('data-points', '128', { timeout: 60_000 });
  await expect(page.getByTestId('chart-spectrum').locator('.recharts-line')).toHaveCount(3);
  await page.getByTestId('spectrum-panel').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'diagnostics-spectrum', { fullPage: false });
  await page.getByTestId('method-checks').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'diagnostics-checks', { fullPage: false });

  await expect(page.getByTestId('accuracy-status')).toContainText('Accuracy on 1 validation questions');
  await expect(page.getByTestId('chart-scatter')).toHaveAttribute('data-points', '3');
  // Log x (trainable parameters): round ticks inside the data's range, labels that do not repeat.
  const scatter = page.getByTestId('chart-scatter');
  expectRoundTicks(await scatter.getAttribute('data-x-ticks'), true);
  const xLabels = await scatter.locator('.recharts-xAxis .recharts-cartesian-axis-tick-value').allTextContents();
  expect(new Set(xLabels).size).toBe(xLabels.length);
  await page.getByTestId('scatter-panel').getByLabel('Y', { exact: true }).selectOption('accuracy');
  await expect(page.getByTestId('chart-scatter')).toHaveAttribute('data-points', '3');
  await page.getByTestId('scatter-panel').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'diagnostics-scatter', { fullPage: false });
  await keepScreenshot(page, testInfo, 'diagnostics-full');
  expect(errors).toEqual([]);
});
