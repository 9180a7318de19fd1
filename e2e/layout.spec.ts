// The studio's layout in a real headless Chromium, after a tiny LoRA + PiSSA run (2 steps, q and
// v only): Start is a couple of Tabs away and stays on screen however far the page scrolls;
// nothing runs past the right edge at 1024, 1280 and 1920 px (every element's box measured, and
// the results table shows all its columns); a phone-wide 390 px page does not scroll sideways;
// the charts' legends hide, show and isolate series, read out the values under the pointer, and
// keep the plot at full height with a saved run overlaid; at 390 px the run diff of two saved runs
// stays inside its panel. Along the way: packing on, with the padding it saves shown; data that
// leaves no validation rows flagged and fixed in one click. Screenshots of each width go to
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
  // Packing, with the padding it saves on this data (at T = 64 no two math rows fit together: it says so).
  await expect(page.getByTestId('packing-stats')).toContainText(/^Padding [\d.]+ % of positions.*(padding tokens saved per epoch|packing saves none here)/);
  await page.getByTestId('packing').getByLabel('Pack examples').check();
  await setNumber(page, 'Validate every', 2);
  await setNumber(page, 'Validation rows', 2);
  await setNumber(page, 'Accuracy questions', 1);
  await start.click();
  await expect(page.getByTestId('run-state')).toContainText('Done', { timeout: 200_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:2,pissa:2');
  await expect(page.getByTestId('run-bar-name')).toContainText('LoRA, PiSSA');
  // Throughput both ways, each saying which tokens it counts.
  await expect(page.getByTestId('results-table').locator('thead th')).toContainText(['Trained tokens/s', 'Processed tokens/s']);

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

  // The run diff at 390 px: a second saved run with long names and values, stored as the page stores
  // runs, then listed (a rename refreshes the list); the diff wraps inside the panel.
  await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open('adapter-studio', 1);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const store = (mode: IDBTransactionMode) => db.transaction('runs', mode).objectStore('runs');
    const [first] = await new Promise<Record<string, unknown>[]>((resolve) => {
      const req = store('readonly').getAll();
      req.onsuccess = () => resolve(req.result as Record<string, unknown>[]);
    });
    const params = { ...(first!.params as Record<string, unknown>), steps: 3, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], lr: 0.000123456789 };
    const copy = { ...first!, id: 'run-layout-copy', name: 'A copy of the run with a long name that has to wrap somewhere at 390 px', params };
    await new Promise<void>((resolve) => {
      const tx = db.transaction('runs', 'readwrite');
      tx.objectStore('runs').put(copy);
      tx.oncomplete = () => resolve();
    });
    db.close();
  });
  const saved = page.getByTestId('saved-runs');
  const runName = saved.getByLabel('Run name');
  await runName.fill('LoRA and PiSSA at 390');
  await runName.blur();
  const diff = page.getByTestId('run-diff');
  await expect(diff.getByLabel('B', { exact: true }).locator('option')).toHaveCount(2);
  await diff.getByRole('button', { name: 'Compare' }).click();
  const diffTable = page.getByTestId('run-diff-table');
  await expect(diffTable.getByTestId('diff-Training-steps').locator('td')).toHaveText(['2', '3']);
  await diffTable.scrollIntoViewIfNeeded();
  const panel = (await saved.boundingBox())!;
  for (const box of [await diff.boundingBox(), await diffTable.boundingBox(), await diffTable.locator('thead th').last().boundingBox()]) {
    expect(box!.x + box!.width, 'run diff inside its panel at 390 px').toBeLessThanOrEqual(panel.x + panel.width + 0.5);
  }
  const withDiff = await overflow(page);
  expect(withDiff.page, 'page width at 390 px with the run diff').toBeLessThanOrEqual(withDiff.viewport);
  expect(withDiff.beyond, 'boxes past the right edge at 390 px with the run diff').toEqual([]);
  await keepScreenshot(page, testInfo, 'layout-390-diff', { fullPage: false });

  // The copy was made from the saved record: reopened, it still has its forgetting figures.
  await saved.locator('li', { hasText: 'A copy of the run' }).getByRole('button', { name: 'Reopen' }).click();
  await expect(page.getByTestId('run-bar-name')).toContainText('A copy of the run');
  for (const id of ['lora', 'pissa']) await expect(page.getByTestId(`result-${id}`).locator('td').last()).toHaveText(/^[+−]\d/);

  // Data that leaves no validation rows is flagged, and one click holds some out.
  await page
    .getByTestId('data-drop')
    .locator('input[type=file]')
    .setInputFiles({
      name: 'two-rows.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from('{"prompt":"1+1=","completion":"2"}\n{"prompt":"2+2=","completion":"4"}\n'),
    });
  await expect(page.getByTestId('data-counts')).toContainText('1 train · 1 validation');
  await setNumber(page, 'Validation fraction', 0);
  const noValidation = page.getByTestId('no-validation');
  await expect(noValidation).toContainText('No validation rows');
  // Both rows now train, and packed they share one row of T.
  await expect(page.getByTestId('packing-stats')).toContainText('padding tokens saved per epoch (2 → 1 rows)');
  await noValidation.getByRole('button', { name: /^Hold out/ }).click();
  await expect(noValidation).toHaveCount(0);
  await expect(page.getByTestId('data-counts')).toContainText('1 train · 1 validation');

  expect(problems).toEqual([]);
});
