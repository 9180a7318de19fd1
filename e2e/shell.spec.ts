// The studio opens, finds the GPU, and its self-test passes in a real headless Chromium.

import { expect, keepScreenshot, test } from './helpers';

test('shows the adapter and passes the self-test', async ({ page }, testInfo) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Adapter Studio' })).toBeVisible();
  const adapter = page.getByTestId('gpu-adapter');
  await expect(adapter).toBeVisible();
  await expect(page.getByTestId('gpu-panel')).toContainText(/Architecture/);
  await expect(page.getByTestId('gpu-panel')).toContainText(/subgroups/);

  // The tabs work from the keyboard: focus the selected one, arrow to the next.
  await page.getByRole('tab', { name: 'Studio' }).focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'GPU & self-test' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByRole('tab', { name: 'GPU & self-test' })).toBeFocused();
  await expect(page.getByRole('tabpanel', { name: 'GPU & self-test' })).toBeVisible();
  await page.getByRole('button', { name: 'Run self-test' }).click();
  const verdict = page.getByTestId('selftest-verdict');
  await expect(verdict).toBeVisible();
  await expect(verdict).toContainText('PASS');
  const rows = page.getByTestId('selftest-result').locator('tbody tr');
  await expect(rows).toHaveCount(5);
  for (const cell of await rows.locator('td:nth-child(3)').allTextContents()) expect(cell).toBe('pass');
  await keepScreenshot(page, testInfo, 'gpu-and-self-test');
  expect(errors).toEqual([]);
});
