// Without WebGPU the studio says why and what to do, instead of failing silently.

import { chromium } from '@playwright/test';
import { BROWSER_FLAGS } from '../playwright.config';
import { expect, keepScreenshot, test } from './helpers';

test('a browser started without --enable-unsafe-webgpu gets the full-page notice', async ({ browserName }, testInfo) => {
  expect(browserName).toBe('chromium');
  const launch = testInfo.project.use.launchOptions ?? {};
  const browser = await chromium.launch({ ...launch, args: BROWSER_FLAGS });
  try {
    const page = await browser.newPage({ baseURL: testInfo.project.use.baseURL, viewport: { width: 1280, height: 800 } });
    await page.goto('/');
    const notice = page.getByTestId('no-webgpu');
    await expect(notice).toBeVisible();
    await expect(notice).toContainText('Adapter Studio needs WebGPU');
    await expect(notice).toContainText('--enable-unsafe-webgpu');
    await keepScreenshot(page, testInfo, 'no-webgpu-flag');
  } finally {
    await browser.close();
  }
});

test('a page whose navigator has no gpu gets the notice with the reason', async ({ page }, testInfo) => {
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
  });
  await page.goto('/');
  const notice = page.getByTestId('no-webgpu');
  await expect(notice).toBeVisible();
  await expect(notice).toContainText('navigator.gpu is missing');
  await keepScreenshot(page, testInfo, 'no-navigator-gpu');

  // The reference study reads docs/results.json only: it stays readable without a GPU.
  await notice.getByRole('button', { name: 'Open the reference study' }).click();
  await expect(page.getByTestId('study-setup')).toBeVisible();
  await expect(page.getByTestId('adapter-chip')).toContainText('No WebGPU');
  await keepScreenshot(page, testInfo, 'no-webgpu-study');
  await page.getByRole('button', { name: 'Back to the WebGPU notice' }).click();
  await expect(page.getByTestId('no-webgpu')).toBeVisible();
});
