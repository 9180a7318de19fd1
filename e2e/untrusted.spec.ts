// Content from strangers (dataset rows, file names, config fields, refusal messages that quote
// them) is shown as text: markup in any of them never becomes an element or runs.

import { readFileSync } from 'node:fs';
import { expect, openStudio, test } from './helpers';

const PAYLOAD = (n: number) => `<img src=x onerror="window.__pwned=${n}"><script>window.__pwned=${n}</script>`;

test('markup in dataset rows, file names and config fields is shown as text and never runs', async ({ page }) => {
  await openStudio(page);

  const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ question: `${PAYLOAD(1)} q${i}`, answer: `${PAYLOAD(2)} #### ${i}` }));
  await page
    .getByTestId('data-drop')
    .locator('input[type=file]')
    .setInputFiles({ name: `${PAYLOAD(3)}.jsonl`, mimeType: 'application/jsonl', buffer: Buffer.from(rows.join('\n') + '\n') });
  const preview = page.getByTestId('data-preview');
  await expect(preview).toContainText('onerror="window.__pwned=3"');
  await expect(page.getByTestId('data-preview-table')).toContainText('onerror="window.__pwned=1"><script>');

  const config = JSON.parse(readFileSync('test/fixtures/tiny-llama/config.json', 'utf8')) as Record<string, unknown>;
  config.architectures = [`${PAYLOAD(4)}ForCausalLM`];
  config.model_type = PAYLOAD(5);
  await page
    .getByTestId('model-drop')
    .locator('input[type=file]')
    .first()
    .setInputFiles([
      { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(config)) },
      { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: readFileSync('test/fixtures/tiny-llama/model.safetensors') },
    ]);
  await expect(page.getByTestId('model-error')).toContainText('window.__pwned');

  const injected = await page.evaluate(() => ({
    pwned: (window as { __pwned?: unknown }).__pwned,
    images: document.querySelectorAll('img[src="x"]').length,
    scripts: [...document.querySelectorAll('script')].filter((s) => s.textContent?.includes('__pwned')).length,
  }));
  expect(injected).toEqual({ pwned: undefined, images: 0, scripts: 0 });
});
