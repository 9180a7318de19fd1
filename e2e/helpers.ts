// Shared by the e2e specs: screenshots kept as test artifacts (and under test-results/screens/
// for a person to look at), the studio's form controls, downloads, and readers for what the
// studio exports (safetensors headers, stored zips).

import { readFileSync } from 'node:fs';
import { test as base, expect, type Download, type Page, type TestInfo } from '@playwright/test';

/**
 * Every spec's `test`: besides the page, it watches that nothing leaves the studio's own server
 * (every request same-origin, or a blob:/data: URL) and that the built page's
 * Content-Security-Policy is never violated; either fails the test at its end.
 */
export const test = base.extend<{ guard: void }>({
  guard: [
    async ({ page }, use, testInfo) => {
      const origin = new URL(testInfo.project.use.baseURL!).origin;
      const foreign: string[] = [];
      const violations: string[] = [];
      page.on('request', (r) => {
        const url = new URL(r.url());
        if (!['blob:', 'data:'].includes(url.protocol) && url.origin !== origin) foreign.push(r.url());
      });
      page.on('console', (m) => {
        if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) violations.push(m.text());
      });
      await use();
      expect(foreign, 'requests that left the studio').toEqual([]);
      expect(violations, 'Content-Security-Policy violations').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/**
 * Keeps a screenshot of the whole page, or (fullPage false) of what the 1280×800 viewport shows.
 * The whole page is taken from the top: the pinned run bar and set-up column would otherwise be
 * drawn where the page happened to be scrolled.
 */
export async function keepScreenshot(page: Page, testInfo: TestInfo, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  const path = `test-results/screens/${name}.png`;
  const fullPage = options.fullPage ?? true;
  const scrolled = fullPage ? await page.evaluate(() => window.scrollY) : 0;
  if (scrolled > 0) await page.evaluate(() => window.scrollTo(0, 0));
  const body = await page.screenshot({ path, fullPage });
  if (scrolled > 0) await page.evaluate((y) => window.scrollTo(0, y), scrolled);
  await testInfo.attach(name, { body, contentType: 'image/png' });
}

export async function setNumber(page: Page, label: string, value: number): Promise<void> {
  const input = page.getByLabel(label, { exact: true });
  await input.fill(String(value));
  await input.blur();
  await expect(input).toHaveValue(String(value));
}

/** Ticks exactly the methods with these labels (their own boxes, not those in their settings). */
export async function chooseMethods(page: Page, labels: readonly string[]): Promise<void> {
  const boxes = page.getByTestId('methods-panel').locator('.method-head input[type=checkbox]');
  const n = await boxes.count();
  for (let i = 0; i < n; i++) {
    const box = boxes.nth(i);
    const label = (await box.evaluate((el) => el.closest('label')?.textContent ?? '')).trim();
    if (labels.includes(label)) await box.check();
    else if (await box.isChecked()) await box.uncheck();
  }
}

/** Opens the studio and waits for the built-in model and data to load on their own. */
export async function openStudio(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('model-card')).toContainText('kjv-llama-1m', { timeout: 120_000 });
  await expect(page.getByTestId('data-preview')).toBeVisible({ timeout: 120_000 });
}

/** Collects the next `n` downloads that `action` starts, by suggested file name. */
export async function downloads(page: Page, n: number, action: () => Promise<void>): Promise<Map<string, Buffer>> {
  const got: Download[] = [];
  const all = new Promise<void>((resolve) => {
    const on = (d: Download) => {
      got.push(d);
      if (got.length === n) {
        page.off('download', on);
        resolve();
      }
    };
    page.on('download', on);
  });
  await action();
  await all;
  const out = new Map<string, Buffer>();
  for (const d of got) out.set(d.suggestedFilename(), readFileSync(await d.path()));
  return out;
}

export interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The header of an f32 safetensors file, every entry's offsets checked against its shape and the file. */
export function safetensorsHeader(bytes: Buffer): Record<string, HeaderEntry> {
  const length = Number(bytes.readBigUInt64LE(0));
  expect(8 + length).toBeLessThanOrEqual(bytes.length);
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<string, HeaderEntry>;
  const dataBytes = bytes.length - 8 - length;
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    expect(e.dtype).toBe('F32');
    expect(e.data_offsets[1] - e.data_offsets[0]).toBe(4 * e.shape.reduce((a, b) => a * b, 1));
    expect(e.data_offsets[1]).toBeLessThanOrEqual(dataBytes);
  }
  return header;
}

/** Stored (uncompressed) entries of a zip, from its central directory. */
export function zipEntries(bytes: Buffer): Map<string, Buffer> {
  const end = bytes.length - 22;
  expect(bytes.readUInt32LE(end)).toBe(0x06054b50);
  const out = new Map<string, Buffer>();
  let at = bytes.readUInt32LE(end + 16);
  for (let i = 0; i < bytes.readUInt16LE(end + 10); i++) {
    expect(bytes.readUInt32LE(at)).toBe(0x02014b50);
    const size = bytes.readUInt32LE(at + 24);
    const nameLength = bytes.readUInt16LE(at + 28);
    const local = bytes.readUInt32LE(at + 42);
    const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
    out.set(bytes.subarray(at + 46, at + 46 + nameLength).toString('utf8'), bytes.subarray(start, start + size));
    at += 46 + nameLength;
  }
  return out;
}
