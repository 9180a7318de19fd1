// The comparison a practitioner expects (issue 13, item 4): on the built-in model, LoRA and VeRA
// train two tiny steps with two seeds (the comparison repeated); the run bar says which seed; the
// results table shows mean ± sd with n = 2; the Pareto plot shows both means as points with the
// front drawn; the table gets a forgetting column with numbers (the loss on the model's own
// held-out verses after training minus the base's), the table downloads as CSV named after the run
// (mean, sd, n and per-seed columns), and a text file given as the forgetting text replaces the built-in one.

import { chooseMethods, downloads, expect, keepScreenshot, openStudio, setNumber, test } from './helpers';

const IDS = ['lora', 'vera'];

test('the Pareto plot, forgetting and the CSV of the results', async ({ page }, testInfo) => {
  test.setTimeout(360_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openStudio(page);
  await expect(page.getByTestId('forgetting-source')).toContainText('kjv-llama-1m/heldout.txt');

  await chooseMethods(page, ['LoRA', 'VeRA']);
  await setNumber(page, 'Steps', 2);
  await setNumber(page, 'Batch B', 2);
  await setNumber(page, 'Sequence length T', 64);
  await setNumber(page, 'Validate every', 2);
  await setNumber(page, 'Validation rows', 2);
  await setNumber(page, 'Accuracy questions', 0);
  await setNumber(page, 'Seeds (1–5)', 2);
  await page.getByRole('button', { name: /^Start \(2 methods\)/ }).click();
  await expect(page.getByTestId('run-seed')).toHaveText(' · seed 2 of 2', { timeout: 300_000 });
  await expect(page.getByTestId('run-state')).toContainText('Done', { timeout: 300_000 });
  await expect(page.getByTestId('seed-caption')).toContainText('Mean ± standard deviation (n − 1) over 2 seeds (0, 1)');
  for (const id of IDS) {
    await expect(page.getByTestId(`seeds-n-${id}`)).toHaveText(' n = 2');
    await expect(page.getByTestId(`result-${id}`)).toContainText('±');
  }
  await expect(page.getByTestId('chart-loss')).toContainText("Each method's mean over 2 seeds (0, 1) with its min–max range shaded");

  const plot = page.getByTestId('chart-pareto');
  await expect(plot).toHaveAttribute('data-points', '2');
  for (const id of IDS) await expect(page.getByTestId(`pareto-point-${id}`)).toHaveCount(1);
  await expect(page.getByTestId('pareto-caption')).toContainText('On the front');
  await expect(page.getByTestId('pareto-front')).toHaveCount(1);
  // Memory on X: still two points.
  await page.locator('#pareto-x').selectOption('memory');
  await expect(plot).toHaveAttribute('data-points', '2');

  const header = page.getByTestId('results-table').getByRole('columnheader', { name: /Forgetting/ });
  await expect(header).toBeVisible();
  const column = await header.evaluate((th) => [...th.parentElement!.children].indexOf(th));
  const signed = String.raw`[+−](\d+\.\d{4}|\d\.\de-\d+)`;
  const unsigned = String.raw`(\d+\.\d{4}|\d\.\de-\d+)`;
  for (const id of IDS) await expect(page.getByTestId(`result-${id}`).locator('td').nth(column)).toHaveText(new RegExp(`^${signed}( ± ${unsigned})?$`));
  await expect(page.getByTestId('forgetting-note')).toContainText(/minus the base model's \d+\.\d{4}/);

  const files = await downloads(page, 1, () => page.getByTestId('results-csv').click());
  const [name, bytes] = [...files][0]!;
  expect(name).toMatch(/-results\.csv$/);
  const lines = bytes.toString('utf8').trimEnd().split('\n');
  expect(lines).toHaveLength(3);
  const head = lines[0]!.split(',');
  for (const line of lines.slice(1)) {
    const row = Object.fromEntries(line.split(',').map((v, i) => [head[i]!, v]));
    expect(row.n).toBe('2');
    expect(Number(row.trainable_params_mean)).toBeGreaterThan(0);
    expect(Number.isFinite(Number(row.forgetting_mean)) && row.forgetting_mean !== '').toBe(true);
    expect(Number(row.best_val_loss_mean)).toBeGreaterThan(0);
    expect(Number(row.best_val_loss_sd)).toBeGreaterThan(0);
    expect(Number(row.best_val_loss_seed0)).not.toBe(Number(row.best_val_loss_seed1));
  }

  await page.getByTestId('pareto-panel').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'pareto-plot', { fullPage: false });
  await page.getByTestId('results').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'pareto-results-forgetting', { fullPage: false });
  await page.getByTestId('chart-loss').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'pareto-seed-curves', { fullPage: false });
  const wide = page.viewportSize()!;
  await page.setViewportSize({ width: 390, height: 800 });
  await page.getByTestId('results').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'pareto-seed-results-390', { fullPage: false });
  await page.setViewportSize(wide);

  // A dropped model has no held-out text of its own: the user gives one under Data.
  await page
    .locator('#forgetting-file')
    .setInputFiles({ name: 'my-pretraining-sample.txt', mimeType: 'text/plain', buffer: Buffer.from('First paragraph.\n\nSecond one.\n') });
  await expect(page.getByTestId('forgetting-source')).toHaveText('my-pretraining-sample.txt');
  await page.getByTestId('forgetting-input').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'pareto-forgetting-input', { fullPage: false });
  expect(errors).toEqual([]);
});
