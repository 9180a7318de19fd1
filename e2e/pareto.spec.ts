// The comparison a practitioner expects (issue 13, item 4): on the built-in model, LoRA and VeRA
// train two tiny steps; the Pareto plot shows both as points with the front drawn, the results
// table gets a forgetting column with numbers (the loss on the model's own held-out verses after
// training minus the base's), the table downloads as CSV named after the run, and a text file
// given as the forgetting text replaces the built-in one.

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
  await page.getByRole('button', { name: /^Start \(2 methods\)/ }).click();
  await expect(page.getByTestId('run-state')).toContainText('Done', { timeout: 300_000 });

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
  for (const id of IDS) await expect(page.getByTestId(`result-${id}`).locator('td').nth(column)).toHaveText(/^[+−](\d+\.\d{4}|\d\.\de-\d+)$/);
  await expect(page.getByTestId('forgetting-note')).toContainText(/minus the base model's \d+\.\d{4}/);

  const files = await downloads(page, 1, () => page.getByTestId('results-csv').click());
  const [name, bytes] = [...files][0]!;
  expect(name).toMatch(/-results\.csv$/);
  const lines = bytes.toString('utf8').trimEnd().split('\n');
  expect(lines).toHaveLength(3);
  const head = lines[0]!.split(',');
  for (const line of lines.slice(1)) {
    const row = Object.fromEntries(line.split(',').map((v, i) => [head[i]!, v]));
    expect(Number(row.trainable_params)).toBeGreaterThan(0);
    expect(Number.isFinite(Number(row.forgetting)) && row.forgetting !== '').toBe(true);
    expect(Number(row.best_val_loss)).toBeGreaterThan(0);
  }

  await page.getByTestId('pareto-panel').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'pareto-plot', { fullPage: false });
  await page.getByTestId('results').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'pareto-results-forgetting', { fullPage: false });

  // A dropped model has no held-out text of its own: the user gives one under Data.
  await page
    .locator('#forgetting-file')
    .setInputFiles({ name: 'my-pretraining-sample.txt', mimeType: 'text/plain', buffer: Buffer.from('First paragraph.\n\nSecond one.\n') });
  await expect(page.getByTestId('forgetting-source')).toHaveText('my-pretraining-sample.txt');
  await page.getByTestId('forgetting-input').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'pareto-forgetting-input', { fullPage: false });
  expect(errors).toEqual([]);
});
