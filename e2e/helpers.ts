// Shared by the e2e specs: screenshots kept as test artifacts (and under test-results/screens/
// for a person to look at).

import type { Page, TestInfo } from '@playwright/test';

/** Keeps a screenshot of the whole page, or (fullPage false) of what the 1280×800 viewport shows. */
export async function keepScreenshot(page: Page, testInfo: TestInfo, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  const path = `test-results/screens/${name}.png`;
  const body = await page.screenshot({ path, fullPage: options.fullPage ?? true });
  await testInfo.attach(name, { body, contentType: 'image/png' });
}
