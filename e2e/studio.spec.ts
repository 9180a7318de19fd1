// The studio's main path in a real headless Chromium: the built-in model and math data load on
// their own, three methods train a few tiny steps side by side, the loss chart gets a line per
// method and the results table fills. Tiny settings keep it to about a minute on SwiftShader.

import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { keepScreenshot } from './helpers';

const METHODS = ['LoRA', 'PiSSA', 'SPP'];

async function setNumber(page: Page, label: string, value: number): Promise<void> {
  const input = page.getByLabel(label, { exact: true });
  await input.fill(String(value));
  await input.blur();
  await expect(input).toHaveValue(String(value));
}

test('trains LoRA, PiSSA and SPP on the built-in model and math data, live', async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');

  await expect(page.getByRole('tab', { name: 'Studio' })).toHaveAttribute('aria-selected', 'true');
  const card = page.getByTestId('model-card');
  await expect(card).toBeVisible({ timeout: 120_000 });
  await expect(card).toContainText('kjv-llama-1m');
  await expect(card).toContainText('LlamaForCausalLM');
  await expect(page.getByTestId('data-preview')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('data-counts')).toContainText(/\d+ train · \d+ validation/);
  await expect(page.getByTestId('data-preview-table').locator('tbody tr').first()).toBeVisible();

  const methods = page.getByTestId('methods-panel');
  for (const box of await methods.getByRole('checkbox').all()) {
    const label = (await box.evaluate((el) => el.closest('label')?.textContent ?? '')).trim();
    if (!label) continue;
    if (METHODS.includes(label)) await box.check();
    else if (await box.isChecked()) await box.uncheck();
  }
  await expect(page.getByTestId('estimate-lora')).toContainText('trainable');

  await setNumber(page, 'Steps', 3);
  await setNumber(page, 'Batch B', 2);
  await setNumber(page, 'Sequence length T', 64);
  await setNumber(page, 'Validate every', 3);
  await setNumber(page, 'Validation rows', 4);
  await setNumber(page, 'Accuracy questions', 2);
  await expect(page.getByTestId('data-preview')).toContainText('Cut to T = 64');
  await keepScreenshot(page, testInfo, 'studio-setup');

  await page.getByRole('button', { name: /^Start/ }).click();
  await expect(page.getByTestId('init-progress')).toBeVisible();
  const state = page.getByTestId('run-state');
  // Pause once the first step is in, check that it holds, then resume to the end.
  await expect(state).toContainText(/Training · step [12]\/3/, { timeout: 150_000 });
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(state).toContainText('Paused', { timeout: 60_000 });
  const pausedAt = await state.textContent();
  await page.waitForTimeout(1500);
  await expect(state).toHaveText(pausedAt ?? '');
  await keepScreenshot(page, testInfo, 'studio-paused', { fullPage: false });
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(state).toContainText('Done', { timeout: 150_000 });

  const loss = page.getByTestId('chart-loss');
  await expect(loss).toHaveAttribute('data-points', 'lora:3,pissa:3,spp:3');
  await expect(loss.locator('.recharts-line')).toHaveCount(3);
  for (const m of METHODS) await expect(loss.locator('.recharts-legend-wrapper')).toContainText(m);
  await expect(page.getByTestId('chart-val')).toHaveAttribute('data-points', 'lora:1,pissa:1,spp:1');

  const rows = page.getByTestId('results-table').locator('tbody tr');
  await expect(rows).toHaveCount(3);
  for (const id of ['lora', 'pissa', 'spp']) {
    const cells = page.getByTestId(`result-${id}`).locator('td');
    await expect(cells.nth(1)).toHaveText('3');
    await expect(cells.nth(2)).toHaveText(/^\d+\.\d{4}$/);
    await expect(cells.nth(3)).toHaveText(/^\d+\.\d{4}$/);
  }
  // Sorting by a column reorders the rows and says so.
  const header = page.getByTestId('results-table').getByRole('columnheader', { name: /Trainable params/ });
  await header.getByRole('button').click();
  await expect(header).toHaveAttribute('aria-sort', 'ascending');
  await keepScreenshot(page, testInfo, 'studio-results');

  // Generation from the base model and each trained method, side by side.
  await setNumber(page, 'Max new tokens', 4);
  await page.getByRole('button', { name: /Generate from the base model and 3 trained methods/ }).click();
  for (const key of ['base', 'lora', 'pissa', 'spp']) await expect(page.getByTestId(`generation-${key}`)).toContainText(/\d+ tokens in/, { timeout: 60_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await keepScreenshot(page, testInfo, 'studio-results-viewport', { fullPage: false });
  expect(errors).toEqual([]);
});

test('a broken model folder or unusable data file is refused beside the file, and the previous one stays', async ({ page }, testInfo) => {
  await page.goto('/');
  const card = page.getByTestId('model-card');
  await expect(card).toContainText('kjv-llama-1m', { timeout: 120_000 });
  await expect(page.getByTestId('data-preview')).toBeVisible({ timeout: 120_000 });

  const config = readFileSync('public/models/kjv-llama-1m/config.json');
  await page.getByTestId('model-drop').locator('input[type=file]').first().setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: config },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a safetensors file') },
  ]);
  const modelError = page.getByTestId('model-error');
  await expect(modelError).toContainText('model.safetensors');
  await expect(modelError).toContainText('is still loaded');
  await expect(card).toContainText('kjv-llama-1m (built-in)');

  await page.getByTestId('data-drop').locator('input[type=file]').setInputFiles({ name: 'bad.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{"foo": 1}\n{"bar": 2}\n') });
  const dataError = page.getByTestId('data-error');
  await expect(dataError).toContainText('bad.jsonl');
  await expect(dataError).toContainText('no usable rows');
  await expect(page.getByTestId('data-preview')).toContainText('math (built-in)');
  await keepScreenshot(page, testInfo, 'studio-refused-files', { fullPage: false });
});
