// The studio's main path in a real headless Chromium, as the README promises a new user: the
// built-in model and math data load on their own; LoRA, PiSSA, QPiSSA and SPP train a few tiny
// steps side by side on every projection; QPiSSA's quantization error fills in layer by layer
// as it is measured between the steps; the loss chart gets a line per method (against steps,
// then training tokens); the results table fills; generation from each method; QPiSSA's PEFT
// adapter downloads and is parsed.

import { readFileSync } from 'node:fs';
import { chooseMethods, downloads, expect, keepScreenshot, openStudio, safetensorsHeader, setNumber, test } from './helpers';

const METHODS = ['LoRA', 'PiSSA', 'QPiSSA', 'SPP'];
const IDS = ['lora', 'pissa', 'qpissa', 'spp'];
const MODEL_DIR = 'public/models/kjv-llama-1m';

test('trains LoRA, PiSSA, QPiSSA and SPP on the built-in model and math data, live, and exports a PEFT adapter', async ({ page }, testInfo) => {
  test.setTimeout(420_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // No console errors or warnings on the main path (React key warnings included).
  const consoleProblems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleProblems.push(`${m.type()}: ${m.text()}`);
  });
  // Nothing leaves the machine: helpers' `test` checks every request (and the CSP) for every spec.
  const config = JSON.parse(readFileSync(`${MODEL_DIR}/config.json`, 'utf8')) as { hidden_size: number; num_hidden_layers: number };
  await openStudio(page);

  await expect(page.getByRole('tab', { name: 'Studio' })).toHaveAttribute('aria-selected', 'true');
  const card = page.getByTestId('model-card');
  await expect(card).toContainText('LlamaForCausalLM');
  await expect(page.getByTestId('data-counts')).toContainText(/\d+ train · \d+ validation/);
  await expect(page.getByTestId('data-preview-table').locator('tbody tr').first()).toBeVisible();

  await chooseMethods(page, METHODS);
  await expect(page.getByTestId('estimate-lora')).toContainText('trainable');
  await expect(page.getByTestId('estimate-qpissa')).toContainText('trainable');
  await expect(page.getByTestId('memory-plan')).toContainText(/Chosen methods together: ≈\d/);
  await expect(page.getByTestId('memory-plan').getByRole('alert')).toHaveCount(0);

  // An out-of-range number keeps the user's text, says the allowed range and what is still used.
  const lr = page.getByLabel('Learning rate', { exact: true });
  const lrBefore = await lr.inputValue();
  await lr.fill('1000');
  await lr.blur();
  await expect(lr).toHaveValue('1000');
  await expect(lr).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByTestId('training-settings').getByTestId('number-range')).toHaveText(`Enter a number from 1e-7 to 1; still using ${lrBefore}.`);
  await keepScreenshot(page, testInfo, 'studio-number-range', { fullPage: false });
  await setNumber(page, 'Learning rate', Number(lrBefore));
  await expect(page.getByTestId('number-range')).toHaveCount(0);

  await setNumber(page, 'Steps', 3);
  await setNumber(page, 'Batch B', 2);
  await setNumber(page, 'Sequence length T', 64);
  await setNumber(page, 'Validate every', 2);
  await setNumber(page, 'Max tokens', 4);
  await page.getByTestId('sample-settings').screenshot({ path: 'test-results/screens/studio-sample-settings.png' });
  await setNumber(page, 'Validation rows', 4);
  await setNumber(page, 'Accuracy questions', 1);
  await expect(page.getByTestId('data-preview')).toContainText('Cut to T = 64');
  await keepScreenshot(page, testInfo, 'studio-setup');

  await page.getByRole('button', { name: /^Start \(4 methods\)/ }).click();
  await expect(page.getByTestId('init-progress')).toBeVisible();
  const state = page.getByTestId('run-state');
  // Pause once the first step is in, check that it holds, then resume to the end.
  await expect(state).toContainText(/Training · step [12]\/3/, { timeout: 240_000 });
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(state).toContainText('Paused', { timeout: 60_000 });
  const pausedAt = await state.textContent();
  await page.waitForTimeout(1500);
  await expect(state).toHaveText(pausedAt ?? '');
  await keepScreenshot(page, testInfo, 'studio-paused', { fullPage: false });
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(state).toContainText('Done', { timeout: 200_000 });
  // QPiSSA's quantization error per layer, measured off the init path (between the steps and while
  // paused) and complete before the run is done: all 4 × 7 projections.
  const layers = 7 * config.num_hidden_layers;
  await expect(page.getByTestId('chart-quant')).toHaveAttribute('data-points', `qpissa:1:${layers}`);
  await expect(page.getByTestId('quant-ratio-note')).toContainText('tick QLoRA');

  const loss = page.getByTestId('chart-loss');
  await expect(loss).toHaveAttribute('data-points', IDS.map((id) => `${id}:3`).join(','));
  await expect(loss.locator('.recharts-line')).toHaveCount(4);
  for (const m of METHODS) await expect(loss.locator('.chart-legend')).toContainText(m);
  // The frozen base model's validation loss at step 0 ("base"), and ln V on the loss charts.
  await expect(page.getByTestId('chart-val')).toHaveAttribute('data-points', ['base:1', ...IDS.map((id) => `${id}:2`)].join(','));
  await expect(page.getByTestId('chart-val').locator('.chart-legend')).toContainText('base (no adapter)');
  await expect(loss).toContainText('ln V =');
  await expect(page.getByTestId('chart-processed')).toHaveAttribute('data-points', IDS.map((id) => `${id}:3`).join(','));
  await page.getByTestId('live-charts').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'studio-curves-steps', { fullPage: false });
  // The same curves against the training tokens each method has seen.
  await page.getByLabel('Against', { exact: true }).selectOption('tokens');
  await expect(loss).toHaveAttribute('data-x-axis', 'tokens');
  await expect(loss).toHaveAttribute('data-points', IDS.map((id) => `${id}:3`).join(','));
  await expect(loss.locator('.recharts-line')).toHaveCount(4);
  await expect(page.getByTestId('chart-val')).toHaveAttribute('data-points', ['base:1', ...IDS.map((id) => `${id}:2`)].join(','));
  await page.getByTestId('live-charts').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'studio-curves-tokens', { fullPage: false });

  // Samples under the curves, taken at validation steps 2 and 3: the prompt once, a card per method
  // with its text at the newest step; the scrubber moves the cards to step 2.
  const strip = page.getByTestId('samples-strip');
  await expect(strip).toHaveAttribute('data-step', '3');
  await expect(strip.getByTestId('sample-prompt')).toContainText('Answer:');
  await expect(strip.locator('.sample-card')).toHaveCount(IDS.length);
  for (const id of IDS) await expect(strip.getByTestId(`sample-${id}`).locator('.sample-text')).toHaveText(/\S/);
  await strip.getByLabel('Step', { exact: true }).focus();
  await page.keyboard.press('ArrowLeft');
  await expect(strip).toHaveAttribute('data-step', '2');
  await expect(strip.getByRole('button', { name: '2', exact: true })).toHaveAttribute('aria-pressed', 'true');
  await strip.scrollIntoViewIfNeeded();
  await strip.screenshot({ path: 'test-results/screens/studio-samples-1280.png' });
  await page.setViewportSize({ width: 390, height: 800 });
  await strip.scrollIntoViewIfNeeded();
  await strip.screenshot({ path: 'test-results/screens/studio-samples-390.png' });
  await page.setViewportSize({ width: 1280, height: 800 });

  const rows = page.getByTestId('results-table').locator('tbody tr');
  await expect(rows).toHaveCount(4);
  for (const id of IDS) {
    const cells = page.getByTestId(`result-${id}`).locator('td');
    await expect(cells.nth(1)).toHaveText('3');
    await expect(cells.nth(2)).toHaveText(/^\d+\.\d{4}$/);
    await expect(cells.nth(3)).toHaveText(/^\d+\.\d{4}$/);
  }
  // Sorting by a column reorders the rows and says so.
  const header = page.getByTestId('results-table').getByRole('columnheader', { name: /Trainable params/ });
  await header.getByRole('button').click();
  await expect(header).toHaveAttribute('aria-sort', 'ascending');
  await keepScreenshot(page, testInfo, 'studio-results');

  // Generation from the base model and each trained method, side by side.
  await setNumber(page, 'Max new tokens', 4);
  await page.getByRole('button', { name: /Generate from the base model and 4 trained methods/ }).click();
  for (const key of ['base', ...IDS]) await expect(page.getByTestId(`generation-${key}`)).toContainText(/\d+ tokens in/, { timeout: 60_000 });
  await page.getByTestId('generate-panel').screenshot({ path: 'test-results/screens/studio-generate.png' });
  await page.evaluate(() => window.scrollTo(0, 0));
  await keepScreenshot(page, testInfo, 'studio-results-viewport', { fullPage: false });

  // QPiSSA's PEFT adapter: converted to a LoRA on the original weights, rank 2r = 16.
  const exportPanel = page.getByTestId('export-panel');
  const adapter = await downloads(page, 2, () => exportPanel.getByRole('button', { name: 'Download the QPiSSA PEFT adapter as files' }).click());
  const adapterConfig = JSON.parse(adapter.get('adapter_config.json')!.toString('utf8')) as Record<string, unknown>;
  expect(adapterConfig).toMatchObject({ peft_type: 'LORA', r: 16, lora_alpha: 16, base_model_name_or_path: 'kjv-llama-1m' });
  const tensors = safetensorsHeader(adapter.get('adapter_model.safetensors')!);
  expect(Object.keys(tensors).filter((k) => k !== '__metadata__')).toHaveLength(2 * layers);
  expect(tensors['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']!.shape).toEqual([16, config.hidden_size]);
  expect(errors).toEqual([]);
  expect(consoleProblems).toEqual([]);
});

test('a broken model folder or unusable data file is refused beside the file, and the previous one stays', async ({ page }, testInfo) => {
  await openStudio(page);
  const card = page.getByTestId('model-card');

  const config = readFileSync('public/models/kjv-llama-1m/config.json');
  await page
    .getByTestId('model-drop')
    .locator('input[type=file]')
    .first()
    .setInputFiles([
      { name: 'config.json', mimeType: 'application/json', buffer: config },
      { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a safetensors file') },
    ]);
  const modelError = page.getByTestId('model-error');
  await expect(modelError).toContainText('model.safetensors');
  await expect(modelError).toContainText('is still loaded');
  await expect(card).toContainText('kjv-llama-1m (built-in)');

  await page
    .getByTestId('data-drop')
    .locator('input[type=file]')
    .setInputFiles({ name: 'bad.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{"foo": 1}\n{"bar": 2}\n') });
  const dataError = page.getByTestId('data-error');
  await expect(dataError).toContainText('bad.jsonl');
  await expect(dataError).toContainText('no usable rows');
  await expect(page.getByTestId('data-preview')).toContainText('math (built-in)');
  await keepScreenshot(page, testInfo, 'studio-refused-files', { fullPage: false });

  // The second built-in set replaces the math set, whole: 2000 training and 200 validation rows.
  await page.getByTestId('data-panel').getByRole('button', { name: 'Word instructions' }).click();
  await expect(page.getByTestId('data-preview')).toContainText('words (built-in)');
  await expect(page.getByTestId('data-counts')).toContainText(/2,?000 train · 200 validation/);
  await expect(page.getByTestId('data-preview-table')).toContainText('Answer:');
});
