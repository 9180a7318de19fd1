// "Resume from the last checkpoint" in a real headless Chromium: a run of two methods with a
// checkpoint every 5 steps is stopped (a checkpoint at the stop), the page is reloaded (as a closed
// tab reopened), the restored run offers to resume from the stop step, and resuming continues its
// curves from there to the end. Reloaded once more, the finished run's trained weights come back
// from its final checkpoint: each method generates text and exports its PEFT adapter. Only q and v
// are adapted, B 1, T 64 (the bit-identical numbers are tested in Node, src/worker/studioResume.test.ts
// and studioRestore.test.ts).

import type { Page } from '@playwright/test';
import { chooseMethods, downloads, expect, keepScreenshot, openStudio, safetensorsHeader, setNumber, test, zipEntries } from './helpers';

const STEPS = 24;

/** The number of loss points the chart has for one method (its data-points attribute: "id:n,..."). */
async function lossPoints(page: Page, id: string): Promise<number> {
  const attr = (await page.getByTestId('chart-loss').getAttribute('data-points')) ?? '';
  const entry = attr.split(',').find((e) => e.startsWith(`${id}:`));
  return entry ? Number(entry.slice(id.length + 1)) : 0;
}

/** A short run of q and v only (B 1, T 64, no validation or accuracy pass) with a checkpoint every `checkpointEvery` steps. */
async function setUpShortRun(page: Page, checkpointEvery: number, methods: string[]): Promise<void> {
  const targets = page.getByTestId('training-settings').locator('fieldset.targets');
  for (const role of ['k', 'o', 'gate', 'up', 'down']) await targets.getByLabel(role, { exact: true }).uncheck();
  await setNumber(page, 'Steps', STEPS);
  await setNumber(page, 'Batch B', 1);
  await setNumber(page, 'Sequence length T', 64);
  await setNumber(page, 'Validate every', 100);
  await setNumber(page, 'Validation rows', 2);
  await setNumber(page, 'Accuracy questions', 0);
  await setNumber(page, 'Checkpoint every N steps', checkpointEvery);
  await chooseMethods(page, methods);
}

test('a stopped run resumes from its checkpoint after a reload, its curves continue past the stop, and its weights survive the next reload', async ({
  page,
}, testInfo) => {
  test.setTimeout(480_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openStudio(page);
  await setUpShortRun(page, 5, ['LoRA', 'PiSSA']);
  await page.getByRole('button', { name: /^Start \(2 methods\)/ }).click();
  const state = page.getByTestId('run-state');
  await expect(state).toContainText(/Training · step ([6-9]|1\d)\/24/, { timeout: 120_000 });
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(state).toContainText('Stopped', { timeout: 60_000 });
  const stoppedAt = await lossPoints(page, 'lora');
  expect(stoppedAt).toBeGreaterThanOrEqual(6);
  expect(stoppedAt).toBeLessThan(STEPS);
  const resume = page.getByTestId('resume-checkpoint');
  await expect(resume).toHaveText(`Resume from the last checkpoint (step ${stoppedAt})`, { timeout: 30_000 });

  // A closed tab reopened: the saved run is shown again, with its checkpoint.
  await page.reload();
  await expect(page.getByTestId('model-card')).toContainText('kjv-llama-1m', { timeout: 120_000 });
  await expect(page.getByTestId('data-preview')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', `lora:${stoppedAt},pissa:${stoppedAt}`, { timeout: 60_000 });
  await expect(resume).toHaveText(`Resume from the last checkpoint (step ${stoppedAt})`, { timeout: 60_000 });
  await expect(resume).toBeEnabled();
  // The saved-runs list offers it too.
  await expect(page.locator('[data-testid^="resume-run-"]')).toHaveCount(1);
  await keepScreenshot(page, testInfo, 'resume-after-reload', { fullPage: false });
  await resume.click();
  await expect(state).toContainText('Done', { timeout: 180_000 });
  await expect(page.getByTestId('run-error')).toHaveCount(0);
  // The curves go on from the stop: every step once, to the end.
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', `lora:${STEPS},pissa:${STEPS}`);
  await expect(page.getByTestId('result-lora').locator('td').nth(1)).toHaveText(String(STEPS));
  // A finished run offers no resume (its final checkpoint holds its trained weights).
  await expect(resume).toHaveCount(0);
  await expect(page.locator('[data-testid^="resume-run-"]')).toHaveCount(0);

  // Reloaded again: generation and export rebuild the trained methods from that checkpoint.
  await page.reload();
  await expect(page.getByTestId('model-card')).toContainText('kjv-llama-1m', { timeout: 120_000 });
  await expect(page.getByTestId('data-preview')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', `lora:${STEPS},pissa:${STEPS}`, { timeout: 60_000 });
  await expect(page.getByTestId('generate-from-checkpoint')).toContainText(`checkpoint (step ${STEPS})`, { timeout: 60_000 });
  await expect(page.getByTestId('generate-no-weights')).toHaveCount(0);
  await setNumber(page, 'Max new tokens', 6);
  await page.getByRole('button', { name: 'Generate from the base model and 2 trained methods' }).click();
  for (const id of ['lora', 'pissa']) {
    const generation = page.getByTestId(`generation-${id}`);
    await expect(generation).toContainText(/\d+ tokens in/, { timeout: 180_000 });
    await expect(generation.locator('pre')).not.toHaveClass('fail');
    expect(((await generation.locator('pre').textContent()) ?? '').length).toBeGreaterThan(0);
  }
  await keepScreenshot(page, testInfo, 'weights-after-reload', { fullPage: true });
  const exportPanel = page.getByTestId('export-panel');
  const zips = await downloads(page, 1, () => exportPanel.getByRole('button', { name: 'Download the PiSSA PEFT adapter as a zip' }).click());
  const [zip] = [...zips.values()];
  const entries = zipEntries(zip!);
  const weights = [...entries].find(([name]) => name.endsWith('/adapter_model.safetensors'));
  expect(weights, [...entries.keys()].join(', ')).toBeDefined();
  expect(Object.keys(safetensorsHeader(weights![1])).filter((k) => k.includes('lora_A')).length).toBeGreaterThan(0);
  await expect(page.getByTestId('export-outcome')).not.toHaveClass(/fail/);
  expect(errors).toEqual([]);
});

test('after a GPU device lost mid-run, the notice resumes the run from its last checkpoint on a new device', async ({ page }) => {
  test.setTimeout(300_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/?testHooks=1');
  await expect(page.getByTestId('model-card')).toContainText('kjv-llama-1m', { timeout: 120_000 });
  await expect(page.getByTestId('data-preview')).toBeVisible({ timeout: 120_000 });
  await setUpShortRun(page, 3, ['LoRA']);
  await page.getByRole('button', { name: /^Start \(1 method\)/ }).click();
  const state = page.getByTestId('run-state');
  await expect(state).toContainText(/Training · step ([7-9]|1\d)\/24/, { timeout: 120_000 });
  expect(
    await page.evaluate(() => (window as unknown as { __adapterStudioTestHooks: { loseDevice(): Promise<boolean> } }).__adapterStudioTestHooks.loseDevice()),
  ).toBe(true);
  await expect(state).toContainText('Stopped', { timeout: 60_000 });
  await expect(page.getByTestId('run-error')).toContainText('Or resume from the last checkpoint (step');
  const lostAt = await lossPoints(page, 'lora');
  const resume = page.getByTestId('notice-resume-checkpoint');
  await expect(resume).toBeVisible({ timeout: 30_000 });
  const text = (await resume.textContent()) ?? '';
  const from = Number(/step (\d+)/.exec(text)?.[1]);
  expect(from % 3).toBe(0);
  expect(from).toBeGreaterThanOrEqual(6);
  expect(from).toBeLessThanOrEqual(lostAt);
  await resume.click();
  await expect(state).toContainText('Done', { timeout: 180_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', `lora:${STEPS}`);
  await expect(page.getByTestId('result-lora').locator('td').nth(1)).toHaveText(String(STEPS));
  expect(errors).toEqual([]);
});
