// The benchmark tab measures our matmul and the peer (tfjs-backend-webgpu) on the page's own GPU.

import { expect, keepScreenshot, test } from './helpers';

test('the benchmark tab shows GFLOP/s for ours and tfjs, with the ratio', async ({ page }, testInfo) => {
  await page.goto('/');
  await expect(page.getByTestId('gpu-adapter')).toBeVisible();
  await page.getByRole('tab', { name: 'Benchmark' }).click();
  await page.getByLabel('256×256 · 256×256').check();
  await page.getByRole('button', { name: /Run benchmark \(1 shapes?\)/ }).click();
  const table = page.getByTestId('bench-table');
  await expect(table).toBeVisible({ timeout: 120_000 });
  await expect(page.getByRole('button', { name: /Run benchmark/ })).toBeEnabled({ timeout: 120_000 });
  const ours = Number(await page.getByTestId('bench-ours').first().textContent());
  expect(ours).toBeGreaterThan(0);
  const row = table.locator('tbody tr').first();
  await expect(row.locator('td').nth(3)).not.toHaveText('—');
  await expect(row.locator('td').nth(4)).toHaveText(/\d+\.\d\d×/);
  await keepScreenshot(page, testInfo, 'benchmark');
});
