// Taking results away, in a real headless Chromium: LoRA trains two tiny steps on the built-in
// model; its PEFT adapter downloads and is parsed here (safetensors header: lora_A/lora_B keys
// and shapes; adapter_config.json); curves, report, chart and script download; a reload restores
// the saved run; a model folder picked through the folder input loads, is kept in OPFS, and
// loads again from there.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { downloads, expect, keepScreenshot, safetensorsHeader, setNumber, test, zipEntries } from './helpers';

const MODEL_DIR = 'public/models/kjv-llama-1m';

test('exports a trained LoRA, restores the saved run after a reload, and keeps a picked model folder', async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const config = JSON.parse(readFileSync(`${MODEL_DIR}/config.json`, 'utf8')) as {
    hidden_size: number;
    intermediate_size: number;
    num_hidden_layers: number;
    num_attention_heads: number;
    num_key_value_heads?: number;
  };
  await page.goto('/');
  const card = page.getByTestId('model-card');
  await expect(card).toContainText('kjv-llama-1m', { timeout: 120_000 });
  await expect(page.getByTestId('data-preview')).toBeVisible({ timeout: 120_000 });

  // Only LoRA (the studio opens with LoRA and PiSSA ticked).
  const methods = page.getByTestId('methods-panel');
  await methods.getByRole('checkbox', { name: 'LoRA', exact: true }).check();
  await methods.getByRole('checkbox', { name: 'PiSSA', exact: true }).uncheck();
  await expect(page.getByRole('button', { name: /^Start \(1 method\)/ })).toBeVisible();
  await setNumber(page, 'Steps', 2);
  await setNumber(page, 'Batch B', 2);
  await setNumber(page, 'Sequence length T', 64);
  await setNumber(page, 'Validate every', 2);
  await setNumber(page, 'Validation rows', 2);
  if ((await page.getByLabel('Accuracy questions', { exact: true }).count()) > 0) await setNumber(page, 'Accuracy questions', 0);
  await page.getByRole('button', { name: /^Start/ }).click();
  await expect(page.getByTestId('run-state')).toContainText('Done', { timeout: 150_000 });

  // The PEFT adapter as files: adapter_config.json and adapter_model.safetensors.
  const exportPanel = page.getByTestId('export-panel');
  await expect(exportPanel).toBeVisible();
  const adapter = await downloads(page, 2, () => exportPanel.getByRole('button', { name: 'Download the LoRA PEFT adapter as files' }).click());
  const adapterConfig = JSON.parse(adapter.get('adapter_config.json')!.toString('utf8')) as Record<string, unknown>;
  expect(adapterConfig).toMatchObject({
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: 8,
    lora_alpha: 8,
    base_model_name_or_path: 'kjv-llama-1m',
    fan_in_fan_out: false,
  });
  expect(adapterConfig.target_modules).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
  const header = safetensorsHeader(adapter.get('adapter_model.safetensors')!);
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  expect(keys).toHaveLength(2 * 7 * config.num_hidden_layers);
  const C = config.hidden_size;
  const kvOut = (C / config.num_attention_heads) * (config.num_key_value_heads ?? config.num_attention_heads);
  expect(header['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']!.shape).toEqual([8, C]);
  expect(header['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight']!.shape).toEqual([C, 8]);
  expect(header['base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight']!.shape).toEqual([kvOut, 8]);
  expect(header['base_model.model.model.layers.0.mlp.down_proj.lora_A.weight']!.shape).toEqual([8, config.intermediate_size]);
  expect(header['base_model.model.model.layers.0.mlp.up_proj.lora_B.weight']!.shape).toEqual([config.intermediate_size, 8]);
  await expect(page.getByTestId('export-outcome')).toContainText('PEFT LoRA: r 8');

  // The merged model as one zip: model.safetensors with every tensor, config.json, tokenizer.
  const zips = await downloads(page, 1, () => exportPanel.getByRole('button', { name: 'Download the LoRA merged model as a zip' }).click());
  const zip = zips.get('kjv-llama-1m-lora-merged.zip')!;
  const entries = zipEntries(zip);
  expect([...entries.keys()].sort()).toEqual(
    ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'].map((n) => `kjv-llama-1m-lora-merged/${n}`),
  );
  const merged = safetensorsHeader(entries.get('kjv-llama-1m-lora-merged/model.safetensors')!);
  expect(merged['model.layers.0.self_attn.q_proj.weight']!.shape).toEqual([C, C]);
  await expect(page.getByTestId('export-outcome')).toContainText('Merged model');

  // Curves as CSV: a header and one row per step.
  const csv = [...(await downloads(page, 1, () => exportPanel.getByRole('button', { name: 'Curves CSV' }).click())).values()][0]!.toString('utf8');
  const lines = csv.trim().split('\n');
  expect(lines[0]).toBe('method,step,tokens,cumulative_tokens,loss,val_loss,grad_norm,lr,ms');
  expect(lines.slice(1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual(['lora,1', 'lora,2']);
  expect(Number(lines[2]!.split(',')[5])).toBeGreaterThan(0);

  // The report, a chart as PNG and the training script.
  const report = [...(await downloads(page, 1, () => exportPanel.getByRole('button', { name: 'HTML report' }).click())).values()][0]!.toString('utf8');
  expect(report).toContain('<svg');
  expect(report).toContain('LoRA');
  expect(report).not.toMatch(/<script|<link|src=/i);
  const png = [...(await downloads(page, 1, () => exportPanel.getByRole('button', { name: 'PNG' }).click())).values()][0]!;
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  expect(png.readUInt32BE(16)).toBeGreaterThan(500); // the plot at 2×, not a legend icon
  expect(report).toContain('recharts-line');
  // Kept for a person to look at, beside the screenshots.
  mkdirSync('test-results/screens', { recursive: true });
  writeFileSync('test-results/screens/export-chart-loss.png', png);
  writeFileSync('test-results/screens/export-report.html', report);
  const script = [
    ...(await downloads(page, 1, () => exportPanel.getByRole('button', { name: 'Download a training script for LoRA' }).click())).values(),
  ][0]!.toString('utf8');
  expect(script).toContain('LoraConfig(');
  expect(script).toContain('max_steps=2,');
  await exportPanel.scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'export-panel', { fullPage: false });

  // The run was saved; a reload shows it again (curves and table), without weights to export.
  const saved = page.getByTestId('saved-runs').locator('li');
  await expect(saved).toHaveCount(1);
  await expect(saved.first()).toContainText('LoRA · 2 steps');
  await page.reload();
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:2', { timeout: 60_000 });
  await expect(page.getByTestId('results-table').locator('tbody tr')).toHaveCount(1);
  await expect(page.getByTestId('result-lora').locator('td').nth(1)).toHaveText('2');
  await expect(saved.first()).toContainText('shown');
  await expect(page.getByRole('button', { name: 'Download the LoRA PEFT adapter as files' })).toBeDisabled();
  // Overlaid on the curves as dashed lines.
  await page.getByRole('checkbox', { name: /^Overlay LoRA · 2 steps/ }).check();
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', 'lora:2,lora~saved:2');
  await expect(page.getByTestId('chart-loss').locator('.recharts-line path[stroke-dasharray="6 4"]')).toHaveCount(1);
  await expect(card).toContainText('kjv-llama-1m', { timeout: 120_000 });
  await page.getByTestId('saved-runs').scrollIntoViewIfNeeded();
  await keepScreenshot(page, testInfo, 'export-restored', { fullPage: true });

  // The downloaded adapter dropped back onto the model: it becomes a method, ticked, with its estimate.
  await page
    .getByTestId('adapter-drop')
    .locator('input[type=file]')
    .first()
    .setInputFiles([
      { name: 'adapter_config.json', mimeType: 'application/json', buffer: adapter.get('adapter_config.json')! },
      { name: 'adapter_model.safetensors', mimeType: 'application/octet-stream', buffer: adapter.get('adapter_model.safetensors')! },
    ]);
  await expect(page.getByTestId('adapter-outcome')).toContainText('(loaded adapter)', { timeout: 60_000 });
  await expect(methods.getByRole('checkbox', { name: 'adapter (loaded adapter)', exact: true })).toBeChecked();
  // A file that is not an adapter is refused by name; the loaded one stays.
  await page
    .getByTestId('adapter-drop')
    .locator('input[type=file]')
    .first()
    .setInputFiles([{ name: 'adapter_config.json', mimeType: 'application/json', buffer: Buffer.from('{"peft_type": "IA3"}') }]);
  await expect(page.getByTestId('adapter-outcome')).toContainText('adapter_config.json');
  await expect(methods.getByRole('checkbox', { name: 'adapter (loaded adapter)', exact: true })).toBeChecked();

  // A model folder through the folder input: it loads, shows its card, and is kept in OPFS.
  await page.getByTestId('model-drop').locator('input[webkitdirectory]').setInputFiles(MODEL_DIR);
  await expect(card).not.toContainText('(built-in)', { timeout: 60_000 });
  await expect(card).toContainText('kjv-llama-1m');
  const cached = page.getByTestId('cached-models');
  await expect(cached.getByTestId('cached-kjv-llama-1m')).toBeVisible({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Back to the built-in model' }).click();
  await expect(card).toContainText('(built-in)', { timeout: 60_000 });
  await cached.getByRole('button', { name: 'Load cached kjv-llama-1m' }).click();
  await expect(card).not.toContainText('(built-in)', { timeout: 60_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await keepScreenshot(page, testInfo, 'export-cached-model', { fullPage: false });
  expect(errors).toEqual([]);
});
