// Shared by the e2e specs: screenshots kept as test artifacts (and under test-results/screens/
// for a person to look at).

import type { Page, TestInfo } from '@playwright/test';

export async function keepScreenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = `test-results/screens/${name}.png`;
  const body = await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { body, contentType: 'image/png' });
}
