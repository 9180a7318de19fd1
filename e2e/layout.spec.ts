// The studio's layout in a real headless Chromium, after a tiny LoRA + PiSSA run (2 steps, q and
// v only): Start is a couple of Tabs away and stays on screen however far the page scrolls;
// nothing runs past the right edge at 1024, 1280 and 1920 px (every element's box measured, and
// the results table shows all its columns); a phone-wide 390 px page does not scroll sideways;
// the charts' legends hide, show and isolate series, read out the values under the pointer, and
// keep the plot at full height with a saved run overlaid. Screenshots of each width go to
// test-results/screens/.

import type { Page } from '@playwright/test';
import { chooseMethods, expect, keepScreenshot, openStudio, setNumber, test } from './helpers';

/** Elements whose visible box (clipped by any ancestor that clips) ends right of the viewport, and boxes that scroll sideways. */
async function overflow(page: Page): Promise<{ page: number; viewport: number; beyond: string[]; sideways: string[] }> {
  return page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const name = (e: Element) =>
      `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${typeof e.className === 'string' && e.className ? `.${e.className.split(' ').join('.')}` : ''}${e.getAttribute('data-testid') ? `[${e.getAttribute('data-testid')}]` : ''}`;
    const clipRight = (e: Element) => {
      let right = Infinity;
      for (let a = e.parentElement; a; a = a.parentElement)
        if (getComputedStyle(a).overflowX !== 'visible') right = Math.min(right, a.getBoundingClientRect().right);
      return right;
    };
    const beyond: string[] = [];
    const sideways: string[] = [];
    for (const e of document.querySelectorAll('body *')) {
      const box = e.getBoundingClientRect();
      const style = getComputedStyle(e);
      if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
      if (Math.min(box.right, clipRight(e)) > vw + 0.5) beyond.push(`${name(e)} ends at ${Math.round(box.right)}`);
      // A box that scrolls sideways hides part of its content (text cut with an ellipsis on purpose is fine; so is the 1 px screen-reader-only text).
      const scrolls =
        style.overflowX === 'auto' || style.overflowX === 'scroll' || (style.overflowX === 'hidden' && style.textOverflow !== 'ellipsis' && box.width > 2);
      if (scrolls && e.scrollWidth > e.clientWidth + 1) sideways.push(`${name(e)} ${e.scrollWidth} > ${e.clientWidth}`);
    }
    return { page: document.documentElement.scrollWidth, viewport: vw, beyond, sideways };
  });
}

/** Scrolls to the bottom, checks that Start is wholly on screen there (and runs `there`), then scrolls back up. */
async function startVisibleAtBottom(page: Page, there?: () => Promise<void>): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await expect.poll(() => page.evaluate(() => window.scrollY)).toBeGreaterThan(0);
  await expect(page.getByRole('button', { name: /^Start/ })).toBeInViewport({ ratio: 1 });
  await there?.();
  await page.evaluate(() => window.scrollTo(0, 0));
}

const lines = (page: Page, chart: string) => page.getByTestId(chart).locator('.recharts-line:not(.raw-line)');

test('run bar pinned, nothing overflows from 1024 to 1920 px, usable at 390 px, legends toggle and isolate series', async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  await page.setViewportSize({ width: 1280, height: 800 });
  await openStudio(page);

  // Start is the second stop of the keyboard's Tab order (after the selected tab).
  const start = page.getByRole('button', { name: /^Start/ });
  await expect(start).toBeEnabled();
  let tabs = 0;
  while (tabs < 4 && !(await start.evaluate((b) => b === document.activeElement))) {
    await page.keyboard.press('Tab');
    tabs++;
  }
  expect(tabs).toBeLessThanOrEqual(2);

  const targets = page.getByTestId('training-settings').locator('fieldset.targets');
  for (const role of ['k', 'o', 'gate', 'up', 'down']) await targets.getByLabel(role, { exact: true }).uncheck();
  await chooseMethods(page, ['LoRA', 'PiSSA']);
  await setNumber(page, 'Steps', 2);
  await setNumber(page, 'Batch B', 2);
  await setNumber(page, 'Sequence length T', 64);
  await setNumber(page, 'Validate every', 2);
  await setNumber(page, 'Validation rows', 2);
  await setNumber(page, 'Accuracy questions', 1);
  await start.click();
  await expect(page.getByTestId('run-state')).toContainText('Done', { timeout: 200_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:2,pissa:2');
  await expect(page.getByTestId('run-bar-name')).toContainText('LoRA, PiSSA');

  for (const width of [1024, 1280, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    await page.evaluate(() => window.scrollTo(0, 0));
    const o = await overflow(page);
    expect(o.page, `page width at ${width} px`).toBeLessThanOrEqual(o.viewport);
    expect(o.beyond, `boxes past the right edge at ${width} px`).toEqual([]);
    expect(o.sideways, `boxes that scroll sideways at ${width} px`).toEqual([]);
    // The results table: every column inside its box.
    const table = page.getByTestId('results-table');
    const box = (await table.boundingBox())!;
    const last = (await table.locator('thead th').last().boundingBox())!;
    expect(last.x + last.width).toBeLessThanOrEqual(box.x + box.width + 0.5);
    expect(box.x + box.width).toBeLessThanOrEqual(width);
    await keepScreenshot(page, testInfo, `layout-${width}`);
    await startVisibleAtBottom(page);
  }

  // Legends: a click hides a series in every chart, a second shows it again; Shift-click isolates.
  await page.setViewportSize({ width: 1280, height: 900 });
  const loss = page.getByTestId('chart-loss');
  await loss.scrollIntoViewIfNeeded();
  const lora = loss.locator('.chart-legend').getByRole('button', { name: 'LoRA', exact: true });
  await expect(lines(page, 'chart-loss')).toHaveCount(2);
  await lora.click();
  await expect(lora).toHaveAttribute('aria-pressed', 'false');
  await expect(lines(page, 'chart-loss')).toHaveCount(1);
  await expect(loss).toHaveAttribute('data-hidden', 'lora');
  await expect(page.getByTestId('chart-val')).toHaveAttribute('data-hidden', 'lora');
  await lora.click();
  await expect(lines(page, 'chart-loss')).toHaveCount(2);
  await expect(loss).toHaveAttribute('data-hidden', '');
  await loss
    .locator('.chart-legend')
    .getByRole('button', { name: 'PiSSA', exact: true })
    .click({ modifiers: ['Shift'] });
  await expect(loss).toHaveAttribute('data-hidden', 'lora');
  await expect(lines(page, 'chart-loss')).toHaveCount(1);
  await loss
    .locator('.chart-legend')
    .getByRole('button', { name: 'PiSSA', exact: true })
    .click({ modifiers: ['Shift'] });
  await expect(lines(page, 'chart-loss')).toHaveCount(2);

  // The values under the pointer, for every series, in the legend (not in a tooltip over it).
  const plot = loss.locator('svg.recharts-surface').first();
  const plotBox = (await plot.boundingBox())!;
  await page.mouse.move(plotBox.x + plotBox.width - 20, plotBox.y + plotBox.height / 2);
  await expect(loss.locator('.legend-at')).toHaveText('step 2');
  await expect(loss.locator('.legend-value')).toHaveCount(2);
  await page.mouse.move(0, 0);
  await expect(loss.locator('.legend-at')).toHaveText('last');

  // Smoothing keeps the raw values, faintly, under each line.
  await page.getByLabel('Smoothing').focus();
  for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowRight');
  await expect(loss.locator('.recharts-line.raw-line')).toHaveCount(2);
  await expect(loss.locator('.legend-value').first()).toContainText('raw');

  // A saved run overlaid: its own legend group, the plot as tall as before, the legend below it.
  const overlay = page
    .getByTestId('saved-runs')
    .getByRole('checkbox', { name: /^Overlay/ })
    .first();
  await overlay.check();
  await expect(loss).toHaveAttribute('data-points', 'lora:2,pissa:2,lora~saved:2,pissa~saved:2');
  await expect(lines(page, 'chart-loss')).toHaveCount(4);
  await expect(loss.locator('.legend-group')).toContainText('saved');
  await loss.scrollIntoViewIfNeeded();
  const plotAfter = (await plot.boundingBox())!;
  const legendBox = (await loss.locator('.chart-legend').boundingBox())!;
  expect(plotAfter.height).toBeGreaterThanOrEqual(190);
  expect(legendBox.y).toBeGreaterThanOrEqual(plotAfter.y + plotAfter.height - 1);
  await keepScreenshot(page, testInfo, 'layout-overlay', { fullPage: false });
  await overlay.uncheck();

  // 390 px: no sideways scrolling of the page, Start reachable from the bottom.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => window.scrollTo(0, 0));
  const phone = await overflow(page);
  expect(phone.page, 'page width at 390 px').toBeLessThanOrEqual(phone.viewport);
  expect(phone.beyond, 'boxes past the right edge at 390 px').toEqual([]);
  await keepScreenshot(page, testInfo, 'layout-390');
  await startVisibleAtBottom(page, () => keepScreenshot(page, testInfo, 'layout-390-bottom', { fullPage: false }));

  expect(problems).toEqual([]);
});
