// Runs as records, in a real headless Chromium: a run names the model and data it trained on; a
// dropped model that is not the run's raises a banner naming both, which loads the run's
// settings and its model back; runs are renamed, annotated and diffed; Reopen restores a run's
// settings with its curves, quantization errors and accuracy; a reload restores the workspace
// (model, data, settings, the shown run) and offers generation and adapter export only for
// weights that exist; the HTML report carries the settings table and the diff.

import { chooseMethods, downloads, expect, keepScreenshot, openStudio, setNumber, test } from './helpers';

const FIXTURE = 'test/fixtures/tiny-llama';

test('runs carry their model and data; mismatch banner, reopen, rename, diff, reload and report', async ({ page }, testInfo) => {
  test.setTimeout(420_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // No console errors or warnings (React key and state warnings included).
  const consoleProblems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleProblems.push(`${m.type()}: ${m.text()}`);
  });
  await openStudio(page);
  const banner = page.getByTestId('run-banner');
  const saved = page.getByTestId('saved-runs');

  // Run 1: LoRA, 2 steps, one accuracy question (a tiny model answers it wrong: 0 %).
  await chooseMethods(page, ['LoRA']);
  await setNumber(page, 'Steps', 2);
  await setNumber(page, 'Batch B', 2);
  await setNumber(page, 'Sequence length T', 64);
  await setNumber(page, 'Validate every', 2);
  await setNumber(page, 'Validation rows', 2);
  await setNumber(page, 'Accuracy questions', 1);
  await page.getByRole('button', { name: /^Start/ }).click();
  await expect(page.getByTestId('run-state')).toContainText('Done', { timeout: 150_000 });
  await expect(banner.getByTestId('run-name')).toHaveText('LoRA · 2 steps');
  await expect(banner.getByTestId('run-model')).toContainText(/kjv-llama-1m \(built-in\) · L \d+, C \d+, V \d+ · [0-9a-f]{12}/);
  await expect(banner.getByTestId('run-data')).toContainText(/math \(built-in\) · \d+ train \/ \d+ validation rows · [0-9a-f]{12}/);
  await expect(banner.getByTestId('run-weights')).toHaveText('trained weights in memory');
  await expect(page.getByTestId('results').getByTestId('run-tag')).toContainText('Run: LoRA · 2 steps · kjv-llama-1m (built-in) · math (built-in)');
  const accuracy = await page.getByTestId('result-lora').locator('td').nth(5).textContent();
  expect(accuracy).toMatch(/^\d+ %$/);

  // Named and annotated once saved.
  const name = saved.getByLabel('Run name');
  await expect(name).toBeEnabled({ timeout: 30_000 });
  await name.fill('baseline r8');
  await name.press('Enter');
  await saved.getByLabel('Run notes').fill('LoRA rank 8, two steps');
  await saved.getByLabel('Run notes').blur();
  await expect(banner.getByTestId('run-name')).toHaveText('baseline r8');
  await expect(saved.locator('li').first()).toContainText('LoRA rank 8, two steps');

  // Run 2: QLoRA, 1 step, another learning rate: it measures quantization errors.
  await chooseMethods(page, ['QLoRA']);
  await setNumber(page, 'Steps', 1);
  await setNumber(page, 'Learning rate', 0.002);
  await setNumber(page, 'Accuracy questions', 0);
  await page.getByRole('button', { name: /^Start/ }).click();
  await expect(page.getByTestId('run-state')).toContainText('Done', { timeout: 150_000 });
  await expect(banner.getByTestId('run-name')).toHaveText('QLoRA · 1 step');
  await expect(page.getByTestId('chart-quant')).toBeVisible();
  await expect(saved.locator('li')).toHaveCount(2);

  // A different model dropped: the banner names both and offers the run's settings and model.
  await page.getByTestId('model-drop').locator('input[webkitdirectory]').setInputFiles(FIXTURE);
  await expect(page.getByTestId('model-card')).toContainText('tiny-llama', { timeout: 60_000 });
  const mismatch = page.getByTestId('run-mismatch');
  await expect(mismatch).toContainText('This run was trained on the model kjv-llama-1m (built-in)');
  await expect(mismatch).toContainText('the loaded model is tiny-llama');
  await expect(banner.getByTestId('run-weights')).toContainText('curves only');
  // The curves keep the run's reference line: ln V of its vocabulary (1024), not the loaded model's.
  await expect(page.getByTestId('chart-loss')).toContainText('over 1024 tokens');
  await page.evaluate(() => window.scrollTo(0, 0));
  await keepScreenshot(page, testInfo, 'records-mismatch', { fullPage: false });
  await setNumber(page, 'Steps', 9);
  await mismatch.getByRole('button', { name: "Load this run's settings" }).click();
  await expect(page.getByLabel('Steps', { exact: true })).toHaveValue('1');
  await expect(page.getByTestId('run-banner-outcome')).toContainText("The run's settings are in the form");
  await mismatch.getByRole('button', { name: 'Load its model' }).click();
  await expect(page.getByTestId('model-card')).toContainText('kjv-llama-1m (built-in)', { timeout: 60_000 });
  await expect(mismatch).toHaveCount(0);

  // Reopen run 1: its curves, accuracy and settings (the form had run 2's).
  await saved.getByRole('button', { name: 'Reopen baseline r8' }).click();
  await expect(banner.getByTestId('run-name')).toHaveText('baseline r8');
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:2');
  await expect(page.getByTestId('result-lora').locator('td').nth(5)).toHaveText(accuracy!);
  await expect(page.getByLabel('Steps', { exact: true })).toHaveValue('2');
  await expect(page.getByLabel('Accuracy questions', { exact: true })).toHaveValue('1');
  await expect(page.getByTestId('methods-panel').getByRole('checkbox', { name: 'LoRA', exact: true })).toBeChecked();
  await expect(page.getByTestId('methods-panel').getByRole('checkbox', { name: 'QLoRA', exact: true })).not.toBeChecked();
  await expect(banner.getByTestId('run-weights')).toContainText('curves only');
  await expect(banner).toContainText('LoRA rank 8, two steps');

  // The diff of the two saved runs: only what differs, highlighted.
  const diff = page.getByTestId('run-diff');
  const pick = async (select: string, text: string) => {
    const box = diff.getByLabel(select, { exact: true });
    await box.selectOption((await box.locator('option', { hasText: text }).getAttribute('value'))!);
  };
  await pick('A', 'baseline r8');
  await pick('B', 'QLoRA · 1 step');
  await diff.getByRole('button', { name: 'Compare' }).click();
  const table = page.getByTestId('run-diff-table');
  await expect(table.getByTestId('diff-Training-steps').locator('td')).toHaveText(['2', '1']);
  await expect(table.getByTestId('diff-Training-lr').locator('td.changed')).toHaveCount(2);
  await expect(table.getByTestId('diff-Methods-methods').locator('td')).toHaveText(['LoRA', 'QLoRA']);
  await expect(table.getByTestId('diff-Training-seed')).toHaveCount(0);
  await expect(table.getByTestId('diff-Model-fingerprint')).toHaveCount(0);
  await saved.scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'records-diff', { fullPage: false });

  // The report: the run, its settings table and the diff against the compared run.
  const report = [
    ...(await downloads(page, 1, () => page.getByTestId('export-panel').getByRole('button', { name: 'HTML report' }).click())).values(),
  ][0]!.toString('utf8');
  expect(report).toContain('<h1>baseline r8</h1>');
  expect(report).toContain('LoRA rank 8, two steps');
  expect(report).toMatch(/<th scope="row">steps<\/th><td class="changed">2<\/td><td class="changed">1<\/td>/);
  expect(report).toContain('<tr class="section"><th colspan="2" scope="rowgroup">Training</th></tr>');
  expect(report).not.toMatch(/<script|<link|src=/i);
  const reportView = await page.context().newPage();
  await reportView.setViewportSize({ width: 1280, height: 1600 });
  await reportView.setContent(report);
  await keepScreenshot(reportView, testInfo, 'records-report', { fullPage: true });
  await reportView.close();

  // Reopen run 2 (QLoRA): its quantization-error chart comes back with the curves.
  await saved.getByRole('button', { name: 'Reopen QLoRA · 1 step' }).click();
  await expect(page.getByTestId('chart-quant')).toBeVisible();
  await expect(page.getByTestId('chart-quant')).not.toHaveAttribute('data-points', '');

  // Other data dropped: the banner names both data sets (by name, split and text hash).
  const rows = Array.from({ length: 30 }, (_, i) => JSON.stringify({ text: `In the beginning ${i} was the word, and the word was ${i + 1}.` }));
  await page
    .getByTestId('data-drop')
    .locator('input[type=file]')
    .setInputFiles({ name: 'verses.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(`${rows.join('\n')}\n`) });
  await expect(page.getByTestId('data-preview')).toContainText('verses.jsonl', { timeout: 60_000 });
  await expect(mismatch).toContainText('This run was trained on the data math (built-in)');
  await expect(mismatch).toContainText(/the loaded data is verses\.jsonl · \d+ train \/ \d+ validation rows · [0-9a-f]{12}/);

  // A reload restores the workspace: model, data (the dropped file, kept in OPFS), the form's
  // settings and the shown run; no weights, so nothing offers the trained methods.
  await setNumber(page, 'Validation rows', 3);
  await page.waitForTimeout(500); // the workspace is written a moment after a change
  await page.reload();
  await expect(page.getByTestId('model-card')).toContainText('kjv-llama-1m (built-in)', { timeout: 120_000 });
  await expect(page.getByTestId('data-preview')).toContainText('verses.jsonl', { timeout: 120_000 });
  await expect(banner.getByTestId('run-name')).toHaveText('QLoRA · 1 step');
  await expect(page.getByTestId('chart-quant')).toBeVisible();
  await expect(page.getByLabel('Validation rows', { exact: true })).toHaveValue('3');
  await expect(page.getByLabel('Steps', { exact: true })).toHaveValue('1');
  await expect(page.getByTestId('methods-panel').getByRole('checkbox', { name: 'QLoRA', exact: true })).toBeChecked();
  await expect(mismatch).toContainText('the loaded data is verses.jsonl');
  await expect(mismatch).not.toContainText('the loaded model');
  await expect(page.getByTestId('generate-panel').getByRole('button', { name: /^Generate from/ })).toHaveText('Generate from the base model');
  await expect(page.getByTestId('generate-no-weights')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Download the QLoRA merged model as a zip' })).toBeDisabled();
  await expect(page.getByTestId('export-no-weights')).toContainText('not in memory');
  await expect(saved.getByTestId('storage-use')).toContainText(/Browser storage: .* of .* used/);
  await page.evaluate(() => window.scrollTo(0, 0));
  await keepScreenshot(page, testInfo, 'records-reloaded', { fullPage: false });

  // The run's data back, then Run again: trained weights exist again, and generation offers them.
  await mismatch.getByRole('button', { name: 'Load its data' }).click();
  await expect(page.getByTestId('data-preview')).toContainText('math (built-in)', { timeout: 60_000 });
  await expect(mismatch).toHaveCount(0);
  await saved.getByRole('button', { name: 'Run again QLoRA · 1 step' }).click();
  await expect(page.getByTestId('run-state')).toContainText('Done', { timeout: 150_000 });
  await expect(banner.getByTestId('run-weights')).toHaveText('trained weights in memory');
  await expect(page.getByTestId('generate-panel').getByRole('button', { name: /^Generate from/ })).toHaveText(
    'Generate from the base model and 1 trained method',
  );
  await expect(page.getByRole('button', { name: 'Download the QLoRA merged model as a zip' })).toBeEnabled();
  await expect(saved.locator('li')).toHaveCount(3);
  expect(errors).toEqual([]);
  expect(consoleProblems).toEqual([]);
});
