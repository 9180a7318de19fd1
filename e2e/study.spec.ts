// The Study tab shows the reference study (docs/results.json) without running it: the setup, each
// task's results table with every method of the file, the validation curves, the Pareto plot and
// the sample answers;
// nothing runs past the right edge at 1280 and 390 px; a broken results file gives a clear error;
// a file holding the learning-rate sweep alone shows the sweep's table.

import { readFileSync } from 'node:fs';
import { expect, keepScreenshot, test } from './helpers';

const study = JSON.parse(readFileSync('docs/results.json', 'utf8')) as { runs: { dataset: string; methods: { id: string }[] }[] };

test('the Study tab shows the reference study, fits 1280 and 390 px, and says when the file is broken', async ({ page }, testInfo) => {
  await page.goto('/');
  await page.getByRole('tab', { name: 'Study' }).click();
  const table = page.getByTestId('study-results-table');
  await expect(table).toBeVisible();
  const first = study.runs[0]!.dataset;
  const ids = [...new Set(study.runs.filter((r) => r.dataset === first).flatMap((r) => r.methods.map((m) => m.id)))];
  for (const id of ids) await expect(page.getByTestId(`study-row-${id}`)).toBeVisible();
  await expect(table.locator('tbody tr')).toHaveCount(ids.length);
  await expect(page.getByTestId('study-val-chart').locator('.recharts-line').first()).toBeVisible();
  expect(Number(await page.getByTestId('study-pareto').getAttribute('data-points'))).toBeGreaterThan(1);
  await expect(page.getByTestId('study-pareto-front')).toBeVisible();
  await expect(page.getByTestId('study-setup')).toContainText(String((study as unknown as { config: { steps: number } }).config.steps));
  // A study joined from slices folds the other processes' commands under the first one.
  const merged = (study as unknown as { config: { merged?: { command: string }[] } }).config.merged ?? [];
  if (merged.length > 0) {
    const fold = page.getByTestId('study-merged');
    await expect(fold.locator('summary')).toContainText(`${merged.length} more`);
    await expect(fold.locator('code').first()).toBeHidden();
    await fold.locator('summary').click();
    await expect(fold.locator('code')).toHaveCount(merged.length);
    await expect(fold.locator('code').last()).toBeVisible();
  }
  const samples = page.getByTestId('study-samples');
  await samples.locator('summary').click();
  await expect(samples.locator('table').first().locator('tbody tr')).toHaveCount(study.runs[0]!.methods.length);
  await keepScreenshot(page, testInfo, 'study-1280');

  const other = study.runs.find((r) => r.dataset !== first)?.dataset;
  if (other) {
    await page.getByRole('group', { name: 'Task' }).getByRole('button', { name: other }).click();
    await expect(page.getByTestId('study-task').getByRole('button', { name: other })).toHaveAttribute('aria-pressed', 'true');
  }

  await page.setViewportSize({ width: 390, height: 800 });
  await expect(table).toBeVisible();
  // The charts follow their boxes through resize observers: give the layout a moment to settle.
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await expect.poll(overflow, { message: 'the page scrolls sideways at 390 px', timeout: 5000 }).toBeLessThanOrEqual(0);
  await keepScreenshot(page, testInfo, 'study-390');

  await page.route('**/results-*.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: '{"config": {"model"' }));
  await page.reload();
  await page.getByRole('tab', { name: 'Study' }).click();
  await expect(page.getByTestId('study-error')).toContainText('not valid JSON');
});

test('a results file with the learning-rate sweep alone shows the sweep table and no task results', async ({ page }, testInfo) => {
  const body = readFileSync('docs/study/parts/sweep.json', 'utf8');
  const sweep = (JSON.parse(body) as { lrSweep: { trials: { method: string; learningRate: number }[]; chosen: Record<string, number>; planned?: number } })
    .lrSweep;
  await page.route('**/results-*.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body }));
  await page.goto('/');
  await page.getByRole('tab', { name: 'Study' }).click();
  const table = page.getByTestId('study-sweep-table');
  await expect(table).toBeVisible();
  const methods = [...new Set(sweep.trials.map((t) => t.method))];
  await expect(table.locator('tbody tr')).toHaveCount(methods.length);
  // Each row's bold cell is its chosen rate's loss: one per method with a choice.
  await expect(table.locator('tbody td.chosen strong')).toHaveCount(methods.filter((id) => sweep.chosen[id] !== undefined).length);
  const unfinished = sweep.planned !== undefined && sweep.trials.length < sweep.planned;
  await expect(page.getByTestId('study-sweep')).toContainText(unfinished ? 'The sweep is not finished' : `${sweep.trials.length} of ${sweep.planned} trials`);
  await expect(page.getByText('This results file holds no finished run yet.')).toBeVisible();
  await keepScreenshot(page, testInfo, 'study-sweep-1280');
  await page.setViewportSize({ width: 390, height: 800 });
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await expect.poll(overflow, { message: 'the page scrolls sideways at 390 px', timeout: 5000 }).toBeLessThanOrEqual(0);
  await keepScreenshot(page, testInfo, 'study-sweep-390');
});
